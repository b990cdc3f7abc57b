"""Train any avatarlab model: `python train.py experiment=NAME [overrides]`."""

from __future__ import annotations

import os

import hydra
import torch
from omegaconf import DictConfig

from avatarlab.training import train


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> None:
    os.environ.setdefault("WANDB_MODE", "offline")  # without a key, online wandb refuses to start
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    train(cfg)


if __name__ == "__main__":
    main()
