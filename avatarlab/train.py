"""Train any avatarlab model: `python -m avatarlab.train experiment=NAME [overrides]`.

The same command as the checkout's `python train.py ...` and the installed `avatarlab-train ...`.
"""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig

from avatarlab.cli import checked_name, config_dir, run_cli

# Options whose value names a folder: task_name is the run's folder under logs/ (logs/TASK_NAME/DATE_TIME).
NAME_OPTIONS = ("task_name",)


def check_name_overrides(argv: list[str]) -> None:
    """Check the names among command-line overrides (`task_name=x`, `+task_name=x`, `++task_name=x`).

    Hydra makes the run directory from them before the job starts, so they are checked before Hydra runs."""
    for arg in argv:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+")
        if sep and key in NAME_OPTIONS:
            checked_name(key, value)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def _main(cfg: DictConfig) -> None:
    import torch  # here, so that bad arguments and --help answer without loading torch and Lightning

    from avatarlab.training import train

    os.environ.setdefault("WANDB_MODE", "offline")  # without a key, online wandb refuses to start
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    train(cfg)


def main() -> None:
    """The command line: check the names it gives, then compose the config and train."""
    run_cli(lambda: check_name_overrides(sys.argv[1:]))
    _main()


if __name__ == "__main__":
    main()
