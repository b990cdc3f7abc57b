"""Train any avatarlab model: `python train.py experiment=NAME [overrides]` (installed: `python -m avatarlab.train`)."""

from __future__ import annotations

from avatarlab.train import main

if __name__ == "__main__":
    main()
