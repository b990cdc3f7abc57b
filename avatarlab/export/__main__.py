"""`python -m avatarlab.export run=RUN_DIR out=bundles/NAME`: a training run -> a runtime bundle.

The run's model kind decides the exporter: the run's config.yaml names the LightningModule
(`model._target_`), `avatarlab.<kind>.…` maps to kind <kind>, and `avatarlab.export.<kind>` must
provide `export_run(run_dir, out) -> Path` (avatar: avatarlab/export/avatar.py; turn: avatarlab/export/turn.py).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from avatarlab.cli import config_dir, run_cli
from avatarlab.errors import UserInputError

log = logging.getLogger(__name__)


def model_kind(run_dir: Path) -> str:
    """`avatar`, `turn`, ...: the package of the run's LightningModule under avatarlab."""
    config_path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise UserInputError(f"no run directory at {run_dir}", "pass run=PATH to a training run (it holds config.yaml and checkpoints/)")
    if not config_path.is_file():
        raise UserInputError(f"{run_dir} has no config.yaml, so it is not a training run", "pass the directory that train.py wrote (printed at the end of training)")
    target = str(OmegaConf.select(OmegaConf.load(config_path), "model._target_", default="") or "")
    parts = target.split(".")
    if len(parts) < 3 or parts[0] != "avatarlab":
        raise UserInputError(f"{config_path}: model._target_ {target!r} is not an avatarlab model", "export runs of avatarlab's own models")
    return parts[1]


def export(run_dir: str | Path, out: str | Path, **options: object) -> Path:
    """Dispatch to the exporter of the run's model kind (options: exporter-specific, None ones dropped)."""
    run = Path(run_dir)
    kind = model_kind(run)
    try:
        exporter = importlib.import_module(f"avatarlab.export.{kind}")
    except ModuleNotFoundError as error:
        raise UserInputError(f"no exporter for {kind!r} models (avatarlab.export.{kind} is missing)", "update avatarlab, or export a model kind it knows") from error
    chosen = {k: v for k, v in options.items() if v is not None}
    accepted = inspect.signature(exporter.export_run).parameters
    unknown = sorted(k for k in chosen if k not in accepted)
    if unknown:
        raise UserInputError(f"{kind} exports take no {', '.join(unknown)}", f"drop {', '.join(unknown)}= from the command line")
    path = exporter.export_run(run, out, **chosen)
    print(f"bundle written: {path}")
    return path


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="export")
def main(cfg: DictConfig) -> None:
    run_cli(lambda: export(cfg.run, cfg.out, occupancy_threshold=cfg.get("occupancy_threshold")))


if __name__ == "__main__":
    main()
