"""`python -m avatarlab.export run=RUN_DIR out=bundles/NAME`: a training run -> a runtime bundle.

The run's model kind decides the exporter: the run's config.yaml names the LightningModule
(`model._target_`), `avatarlab.<kind>.…` maps to kind <kind>, and `avatarlab.export.<kind>` must
provide `export_run(run_dir, out, **options) -> Path` (avatar: avatarlab/export/avatar.py; turn:
avatarlab/export/turn.py), taking those of the command's options (configs/export.yaml) that apply to its kind.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from avatarlab.cli import config_dir, run_cli
from avatarlab.errors import UserInputError
from avatarlab.export.run_checkpoint import model_kind

log = logging.getLogger(__name__)


def export(run_dir: str | Path, out: str | Path, **options: object) -> Path:
    """Dispatch to the exporter of the run's model kind; it gets the `options` it names (configs/export.yaml sets
    them all), and one it does not name must be None."""
    run = Path(run_dir)
    kind = model_kind(run)
    try:
        exporter = importlib.import_module(f"avatarlab.export.{kind}")
    except ModuleNotFoundError as error:
        raise UserInputError(
            f"no exporter for {kind!r} models (avatarlab.export.{kind} is missing)",
            "update avatarlab, or export a model kind it knows",
        ) from error
    accepted = inspect.signature(exporter.export_run).parameters
    unknown = sorted(k for k, v in options.items() if v is not None and k not in accepted)
    if unknown:
        raise UserInputError(
            f"{kind} exports take no {', '.join(unknown)}", f"drop {', '.join(unknown)}= from the command line"
        )
    path = exporter.export_run(run, out, **{k: v for k, v in options.items() if k in accepted})
    print(f"bundle written: {path}")
    return path


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="export")
def main(cfg: DictConfig) -> None:
    run_cli(lambda: export(cfg.run, cfg.out, occupancy_threshold=cfg.get("occupancy_threshold")))


if __name__ == "__main__":
    main()
