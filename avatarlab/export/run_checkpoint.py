"""What a training run directory holds: its model kind and its checkpoint."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from avatarlab.errors import UserInputError


def find_checkpoint(run_dir: Path, experiment: str) -> Path:
    """The run's final checkpoint, or its last one; a clear error naming how to train when neither exists."""
    for name in ("final.ckpt", "last.ckpt"):
        path = run_dir / "checkpoints" / name
        if path.is_file():
            return path
    raise UserInputError(
        f"{run_dir} has no checkpoints/final.ckpt or last.ckpt",
        f"train first (`python train.py experiment={experiment}`) and pass its run directory",
    )


def model_kind(run_dir: Path) -> str:
    """`avatar`, `turn`, ...: the package of the run's LightningModule under avatarlab."""
    config_path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise UserInputError(
            f"no run directory at {run_dir}", "pass run=PATH to a training run (it holds config.yaml and checkpoints/)"
        )
    if not config_path.is_file():
        raise UserInputError(
            f"{run_dir} has no config.yaml, so it is not a training run",
            "pass the directory that train.py wrote (printed at the end of training)",
        )
    target = str(OmegaConf.select(OmegaConf.load(config_path), "model._target_", default="") or "")
    parts = target.split(".")
    if len(parts) < 3 or parts[0] != "avatarlab":
        raise UserInputError(
            f"{config_path}: model._target_ {target!r} is not an avatarlab model",
            "export runs of avatarlab's own models",
        )
    return parts[1]
