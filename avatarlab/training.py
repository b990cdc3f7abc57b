"""The training job behind train.py: build everything from the config, fit, save the resolved config."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from avatarlab.atomic import atomic_path
from avatarlab.cli import checked_name
from avatarlab.errors import UserInputError, exit_with

log = logging.getLogger(__name__)


def build_callbacks(cfg: DictConfig | None) -> list[L.Callback]:
    """Instantiate every callback of the callbacks group (entries without _target_ are skipped)."""
    return [instantiate(c) for c in (cfg or {}).values() if c is not None and "_target_" in c]


def build_loggers(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every logger of the logger group (train.py keeps wandb offline unless WANDB_MODE says otherwise)."""
    return [instantiate(c) for c in (cfg or {}).values() if c is not None and "_target_" in c]


# Loggers whose name and version become folders under the run directory.
FOLDER_LOGGERS = ("CSVLogger", "TensorBoardLogger")


def check_names(cfg: DictConfig) -> None:
    """The config's names that become folders must be plain names: task_name (logs/TASK_NAME/...) and the
    file loggers' name and version."""
    if "task_name" in cfg:
        checked_name("task_name", cfg.task_name)
    for key, node in (cfg.get("logger") or {}).items():
        if node is None or str(node.get("_target_", "")).rsplit(".", 1)[-1] not in FOLDER_LOGGERS:
            continue
        for field in ("name", "version"):
            value = node.get(field)
            if isinstance(value, str) and value:
                checked_name(f"logger.{key}.{field}", value)


def resolve_checkpoint(ckpt_path: str | None, output_dir: Path) -> str | None:
    """`last` means this run dir's checkpoints/last.ckpt if present (a fresh start otherwise)."""
    if ckpt_path in (None, ""):
        return None
    if ckpt_path == "last":
        last = output_dir / "checkpoints" / "last.ckpt"
        return str(last) if last.exists() else None
    if not Path(ckpt_path).is_file():
        raise UserInputError(
            f"checkpoint {ckpt_path} does not exist", "pass ckpt_path=PATH/TO/last.ckpt or ckpt_path=last"
        )
    return ckpt_path


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the experiment's model on its data; return the final logged metrics."""
    try:
        return _train(cfg)
    except UserInputError as error:
        exit_with(error)
    except InstantiationException as error:  # a bad config node: its class's own message, without the wrapper
        if isinstance(error.__cause__, UserInputError):
            exit_with(error.__cause__)
        raise


def _train(cfg: DictConfig) -> dict[str, float]:
    check_names(cfg)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(output_dir / "config.yaml") as target:
        OmegaConf.save(cfg, target, resolve=True)
    L.seed_everything(cfg.seed, workers=True)

    datamodule: L.LightningDataModule = instantiate(cfg.data)
    model: L.LightningModule = instantiate(cfg.model)
    callbacks = build_callbacks(cfg.get("callbacks"))
    loggers = build_loggers(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    for lg in loggers:
        if hasattr(lg, "log_hyperparams"):
            lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    ckpt = resolve_checkpoint(cfg.get("ckpt_path"), output_dir)
    log.info("training %s in %s%s", cfg.model._target_, output_dir, f" (resuming {ckpt})" if ckpt else "")
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    trainer.save_checkpoint(output_dir / "checkpoints" / "final.ckpt")
    for lg in loggers:
        if hasattr(lg, "experiment") and lg.__class__.__name__ == "WandbLogger":
            lg.experiment.finish()
    log.info("run directory: %s", output_dir)
    return metrics
