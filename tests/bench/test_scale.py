"""The long-video benchmark end to end, shrunk: two short lengths of the built-in subject prepared at 48 px, a
couple of training steps, the table and the record; a rerun redoes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.configs import TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[2]


def scale(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "avatarlab.bench.scale", *args], cwd=REPO, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_the_benchmark_measures_each_length_and_the_training(tmp_path: Path) -> None:
    options = ["lengths=3,6", "size=48", "steps=2", f"work={tmp_path}", f"out={tmp_path / 'out'}"]
    result = scale(*options, "overrides=" + " ".join(o for o in TINY_OVERRIDES if "max_steps" not in o))
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads((tmp_path / "out" / "scale.json").read_text())
    assert [figures["prepare"][s]["frames"] for s in ("3", "6")] == [75, 150]  # 25 frames a second
    assert all(0.1 < row["peak_memory_gb"] < 12 and row["seconds"] > 0 for row in figures["prepare"].values())
    assert figures["train"]["steps"] == 2 and 0.1 < figures["train"]["peak_memory_gb"] < 12
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 3 s") or line.startswith("| 6 s")]
    assert len(rows) == 2 and "training on the 6 s subject: peak memory" in result.stdout
    assert (tmp_path / "logs" / "scale" / "avatar_real_6s_48" / "checkpoints" / "final.ckpt").is_file()
    again = scale(*options)
    assert again.returncode == 0 and again.stdout.count("already done") == 5  # a rerun redoes nothing


def test_bad_input_is_refused_with_the_fix(tmp_path: Path) -> None:
    short = scale("lengths=1", f"work={tmp_path}")
    assert short.returncode == 2 and "lengths" in short.stderr
    unknown = scale("experiment=avatar_nonesuch", f"work={tmp_path}")
    assert unknown.returncode == 2 and "no experiment config 'avatar_nonesuch'" in unknown.stderr
    assert not (tmp_path / "datasets").exists()
