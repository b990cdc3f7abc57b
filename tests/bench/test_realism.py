"""The realism benchmark end to end on the shared real clip, shrunk: prepare at 64 px, a few training steps,
evaluation with both render paths, the table and the frame strips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from tests.helpers.configs import TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[2]


def realism(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "avatarlab.bench.realism", *args], cwd=REPO, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_the_benchmark_prints_the_figures_and_draws_the_strips(shared_data: Path, tmp_path: Path) -> None:
    result = realism(
        f"video={shared_data / 'hdtf_katie_8s.mp4'}", "size=64", "experiments=avatar_quickstart",
        f"work={tmp_path}", f"out={tmp_path / 'out'}", "overrides=" + " ".join(TINY_OVERRIDES),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("| ")}
    for label in ("PSNR tracked (dB)", "PSNR audio (dB)", "skin artifact ratio tracked (real = 1)",
                  "fast path vs reference (dB)", "lip sync, robust (audio; real = 1)",
                  "lip sync, robust, a still mouth (the head's motion alone)"):  # fmt: skip
        assert label in rows and "[" in rows[label], rows.get(label)
    figures = json.loads((tmp_path / "out" / "realism.json").read_text())["runs"]["avatar_quickstart"]
    assert figures["frames"] == 50  # an 8 s clip holds out its last 2 s
    assert figures["psnr_fast_vs_reference"] > 15 and figures["render_fps_reference"] > 0
    strip = cv2.imread(str(tmp_path / "out" / "frame_strips.png"))
    assert strip.shape[0] > 4 * 64 and strip.shape[1] >= 5 * 64  # real, tracked, audio, reference; 4 frames + zoom
    again = realism(
        f"video={shared_data / 'hdtf_katie_8s.mp4'}", "size=64", "experiments=avatar_quickstart",
        f"work={tmp_path}", f"out={tmp_path / 'out'}",
    )  # fmt: skip
    assert again.returncode == 0 and again.stdout.count("already done") == 3  # a rerun redoes nothing


def test_bad_input_is_refused_with_the_fix(tmp_path: Path) -> None:
    missing = realism(f"video={tmp_path / 'none.mp4'}")
    assert missing.returncode == 2 and "no video at" in missing.stderr
    unknown = realism(f"video={REPO / 'README.md'}", "experiments=avatar_nonesuch")
    assert unknown.returncode == 2 and "no experiment config 'avatar_nonesuch'" in unknown.stderr
