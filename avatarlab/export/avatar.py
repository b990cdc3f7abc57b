"""Export a trained avatar run to a runtime bundle (kind "avatar"); avatarlab.runtime.avatar loads it."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from avatarlab.avatar.lit import load_checkpoint, model_from_checkpoint
from avatarlab.export.bundle import write_bundle
from avatarlab.export.run_checkpoint import find_checkpoint
from avatarlab.runtime.avatar import AVATAR_BUNDLE_KIND

log = logging.getLogger(__name__)


def export_run(run_dir: str | Path, out: str | Path, *, occupancy_threshold: float | None) -> Path:
    """Write the bundle of a training run's avatar to `out` and return its path.

    `occupancy_threshold` re-derives the occupancy grid with another opacity threshold before export
    (a sharper grid renders faster; None keeps the trained one); the bundle records it."""
    run = Path(run_dir)
    checkpoint_path = find_checkpoint(run, "avatar_quickstart")
    checkpoint = load_checkpoint(checkpoint_path)
    model = model_from_checkpoint(checkpoint, "cpu")
    model_args = dict(checkpoint["avatar_model_args"])
    if occupancy_threshold is not None:
        model.set_occupancy_threshold(float(occupancy_threshold))
        model_args["occupancy_threshold"] = float(occupancy_threshold)
    spec = model.spec
    config = {"spec": spec.to_dict(), "model_args": model_args, "track_frames": int(checkpoint["avatar_track_frames"])}
    feature_spec = {
        "audio": {
            "sample_rate": 16000,
            "channels": 1,
            "features": "log_mel",
            "n_mels": spec.n_mels,
            "rows_per_second": 100,
            "rows_per_frame": spec.mel_per_frame,
        },
        "video": {"fps": spec.fps, "size": spec.size},
        "audio2kp": {
            "past_frames": model.audio2kp.past,
            "future_frames": model.audio2kp.future,
            "lookahead_seconds": model.audio2kp.lookahead_seconds,
        },
        "condition": model.condition,
        "keypoint_indices": spec.keypoint_indices,
    }
    metadata: dict[str, Any] = {
        "subject": spec.subject,
        "run_dir": str(run.resolve()),
        "checkpoint": checkpoint_path.name,
        "global_step": int(checkpoint.get("global_step", 0)),
    }
    metrics = run / "eval" / "metrics.json"
    if metrics.is_file():
        metadata["metrics"] = json.loads(metrics.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        plate = Path(tmp) / "background.png"
        image = (model.background.numpy() * 255.0).round().astype(np.uint8)
        cv2.imwrite(str(plate), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        path = write_bundle(
            out,
            AVATAR_BUNDLE_KIND,
            model.state_dict(),
            config,
            feature_spec,
            metadata,
            assets={"background.png": plate},
        )
    log.info("exported %s (step %d) -> %s", checkpoint_path, metadata["global_step"], path)
    return path
