"""The real pipeline on a tiny subject: synthetic clip -> prepare -> train -> evaluate -> export -> render."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from avatarlab.training import train
from tests.helpers.configs import tiny_train_config

REPO = Path(__file__).resolve().parents[2]


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
    train(tiny_train_config("avatar_quickstart", prepared_tiny, run, ["trainer.max_steps=4"]))

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
        "artifact_ratio",
        "artifact_ratio_audio",
        "render_fps",
    ):
        assert key in metrics
    assert metrics["psnr"] > 5 and metrics["render_fps"] > 0
    assert metrics["psnr_ci95"][0] <= metrics["psnr"] <= metrics["psnr_ci95"][1]
    assert (run / "eval" / "side_by_side.mp4").stat().st_size > 0

    bundle = tmp_path / "bundle"
    result = _run("-m", "avatarlab.export", f"run={run}", f"out={bundle}")
    assert result.returncode == 0, result.stderr[-2000:]
    json.loads((bundle / "manifest.json").read_text())  # includes the evaluation's metrics

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

    driven = tmp_path / "driven.mp4"
    result = _run(
        "-m", "avatarlab.render", f"bundle={bundle}", f"keypoints={prepared_tiny}", f"out={driven}", "max_seconds=1"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert driven.stat().st_size > 0


def test_render_cli_errors(tmp_path: Path) -> None:
    result = _run("-m", "avatarlab.render", f"bundle={tmp_path}", f"out={tmp_path / 'x.mp4'}")
    assert result.returncode == 2 and "exactly one driving signal" in result.stderr
    result = _run(
        "-m", "avatarlab.render", f"bundle={tmp_path / 'none'}", "audio=/nonexistent.wav", f"out={tmp_path / 'x.mp4'}"
    )
    assert result.returncode == 2 and "error:" in result.stderr
    result = _run("-m", "avatarlab.evaluate", f"run={tmp_path}")
    assert result.returncode == 2 and "not a training run" in result.stderr
