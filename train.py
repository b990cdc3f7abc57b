"""Train any avatarlab model: `python train.py experiment=NAME [overrides]`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from avatarlab.training import train


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
