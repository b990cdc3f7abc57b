"""The real pipeline on a tiny subject: synthetic clip -> prepare -> train -> evaluate -> export -> render."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from avatarlab.training import train
from tests.helpers.configs import tiny_train_config

REPO = Path(__file__).resolve().parents[2]
# Enough steps and rays for the tiny field to learn the face (untrained it renders a flat fog of about the
# frames' mean colour).
LEARN_THE_FACE = [
    "trainer.max_steps=150",
    "trainer.val_check_interval=150",
    "callbacks.model_checkpoint.every_n_train_steps=150",
    "data.rays=1024",
    "data.frames=4",
    "model.occupancy_warmup=25",
    "model.occupancy_every=25",
    "model.video_every=1000",
]


@pytest.fixture(scope="module")
def prepared_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from avatarlab.config_args import from_config
    from avatarlab.data.prepare import prepare_subject
    from avatarlab.data.synthetic import generate

    clip = generate(
        tmp_path_factory.mktemp("synthetic") / "clip", from_config("synthetic.yaml", "params", seed=5, seconds=3.0)
    )
    return prepare_subject(
        clip / "video.mp4",
        tmp_path_factory.mktemp("prepared") / "clip",
        "clip",
        from_config("prepare.yaml", "params", size=64),
        force=False,
    )


def blank_render_psnr(subject: Path, frames: int) -> float:
    """The best PSNR on the first held-out `frames` of a render that shows nothing of the face: black frames,
    the background plate, or the frames' mean colour."""
    manifest = json.loads((subject / "manifest.json").read_text())
    start = manifest["split"]["val"][0]
    real = np.load(subject / "frames.npy")[start : start + frames].astype(np.float64) / 255
    plate = cv2.cvtColor(cv2.imread(str(subject / "background.png")), cv2.COLOR_BGR2RGB) / 255.0
    blanks = [np.zeros(3), plate, real.mean(axis=(0, 1, 2))]
    return max(float(np.mean([-10 * np.log10(np.mean((frame - blank) ** 2)) for frame in real])) for blank in blanks)


def video_stream(path: Path) -> tuple[int, int, int]:
    """Decoded frame count, width and height of the video stream in `path`."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0"]
        + ["-show_entries", "stream=nb_read_frames,width,height", "-of", "default=noprint_wrappers=1", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = dict(line.split("=", 1) for line in probe.split())
    return int(fields["nb_read_frames"]), int(fields["width"]), int(fields["height"])


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**__import__("os").environ, "WANDB_MODE": "offline"},
    )


@pytest.mark.slow
def test_quickstart_pipeline_on_a_prepared_subject(prepared_tiny: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_train_config("avatar_quickstart", prepared_tiny, run, LEARN_THE_FACE))

    result = _run("-m", "avatarlab.evaluate", f"run={run}", "max_frames=6")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    for key in (
        "psnr",
        "ssim",
        "psnr_audio",
        "lmd",
        "lip_sync_real",
        "lip_sync_audio",
        "lip_sync_ratio",
        "lip_sync_dark_real",
        "lip_sync_dark_audio",
        "lip_sync_dark_ratio",
        "lip_sync_robust_audio",
        "lip_sync_robust_still",
        "artifact_ratio",
        "artifact_ratio_audio",
        "render_fps",
    ):
        assert key in metrics
    assert metrics["frames"] == 6 and metrics["size"] == 64
    for key in ("psnr", "psnr_audio", "psnr_still", "ssim", "render_fps"):
        assert isinstance(metrics[key], float) and math.isfinite(metrics[key]), (key, metrics[key])
    floor = blank_render_psnr(prepared_tiny, 6)  # black frames, the bare plate or one flat colour score this
    assert metrics["psnr"] > floor + 3 and metrics["psnr_audio"] > floor + 1, (floor, metrics)
    assert 0 < metrics["ssim"] <= 1 and metrics["render_fps"] > 0
    assert metrics["psnr_ci95"][0] <= metrics["psnr"] <= metrics["psnr_ci95"][1]
    assert video_stream(run / "eval" / "side_by_side.mp4") == (6, 3 * 64, 64)  # real | audio | keypoints
    assert metrics["pixel_sigma"] == 0.0  # the quickstart's: pixels point-sampled

    filtered = _run("-m", "avatarlab.evaluate", f"run={run}", "max_frames=6", "pixel_sigma=0.8", "video=false")
    assert filtered.returncode == 0, filtered.stderr[-2000:]
    smooth = json.loads((run / "eval" / "metrics.json").read_text())
    assert smooth["pixel_sigma"] == 0.8 and smooth["artifact_ratio"] < metrics["artifact_ratio"]  # less speckle
    assert smooth["psnr_fast_vs_reference"] > 30  # both paths filtered alike
    assert _run("-m", "avatarlab.evaluate", f"run={run}", "max_frames=6").returncode == 0  # the run's own again

    bundle = tmp_path / "bundle"
    result = _run("-m", "avatarlab.export", f"run={run}", f"out={bundle}")
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["metadata"]["metrics"]["psnr"] == metrics["psnr"]  # the bundle carries the evaluation

    audio = REPO.parent / "shared" / "data" / "speech_radio31_8s.wav"
    audio = audio if audio.is_file() else prepared_tiny / "audio.wav"
    out = tmp_path / "speech.mp4"
    result = _run("-m", "avatarlab.render", f"bundle={bundle}", f"audio={audio}", f"out={out}", "max_seconds=1.5")
    assert result.returncode == 0, result.stderr[-2000:]
    streams = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", str(out)],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert sorted(streams) == ["audio", "video"]
    assert video_stream(out) == (38, 64, 64)  # 1.5 s of speech at 25 frames/s, rounded up

    driven = tmp_path / "driven.mp4"
    result = _run(
        "-m", "avatarlab.render", f"bundle={bundle}", f"keypoints={prepared_tiny}", f"out={driven}", "max_seconds=1"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert video_stream(driven) == (25, 64, 64)  # 1 s of the driving subject's keypoints


@pytest.mark.slow
def test_render_cli_errors(tmp_path: Path) -> None:
    result = _run("-m", "avatarlab.render", f"bundle={tmp_path}", f"out={tmp_path / 'x.mp4'}")
    assert result.returncode == 2 and "exactly one driving signal" in result.stderr
    result = _run(
        "-m", "avatarlab.render", f"bundle={tmp_path / 'none'}", "audio=/nonexistent.wav", f"out={tmp_path / 'x.mp4'}"
    )
    assert result.returncode == 2 and f"error: no bundle directory at {tmp_path / 'none'}" in result.stderr
    result = _run("-m", "avatarlab.evaluate", f"run={tmp_path}")
    assert result.returncode == 2 and "not a training run" in result.stderr
