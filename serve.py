"""Talk to an avatar: `python serve.py mode=simulate script=configs/serve/scripts/demo.yaml [overrides]`."""

from __future__ import annotations

from avatarlab.serve.main import main

if __name__ == "__main__":
    main()
