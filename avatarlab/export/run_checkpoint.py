"""Find the checkpoint of a training run to export."""

from __future__ import annotations

from pathlib import Path

from avatarlab.errors import UserInputError


def find_checkpoint(run_dir: Path, experiment: str) -> Path:
    """The run's final checkpoint, or its last one; a clear error naming how to train when neither exists."""
    for name in ("final.ckpt", "last.ckpt"):
        path = run_dir / "checkpoints" / name
        if path.is_file():
            return path
    raise UserInputError(f"{run_dir} has no checkpoints/final.ckpt or last.ckpt", f"train first (`python train.py experiment={experiment}`) and pass its run directory")
