"""Twenty short conversations against one live server: memory, threads, open files and asyncio tasks come back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from avatarlab.bench.soak import figures

pytestmark = pytest.mark.slow


def test_twenty_sessions_leave_the_server_as_they_found_it(
    avatar_bundle: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "avatarlab.bench.soak", "sessions=20", "warmup=5", f"avatar_bundle={avatar_bundle}",
         f"turn_bundle={tiny_bundle}", f"out={tmp_path}", "overrides=engine.idle_frames=10"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(result.stdout[-800:])
    soak = json.loads((tmp_path / "soak.json").read_text())
    assert soak["server_alive"] and soak["counts_ok"]
    assert all(s["frames"] == 5 for s in soak["samples"]) and all(s["engines"] <= 1 for s in soak["samples"])
    assert soak["max_rss_above_baseline_mb"] <= 20.0
    assert len(list(tmp_path.glob("sessions/*.jsonl"))) == 20  # every conversation logged


def test_the_figures_find_growth() -> None:
    flat = [{"rss_mb": 100.0, "threads": 9, "open_files": 12, "tasks": 3} for _ in range(20)]
    assert figures(flat, 5)["memory_ok"] and figures(flat, 5)["counts_ok"]
    growing = [{**s, "rss_mb": 100.0 + 2 * i, "threads": 9 + (i > 15)} for i, s in enumerate(flat)]
    found = figures(growing, 5)
    assert not found["memory_ok"] and not found["counts_ok"] and found["rss_trend_mb_per_100_sessions"] > 100
