"""The benchmark script runs end to end and reports per-update latency against the 10 ms bar."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_reports_update_latency(tiny_bundle: Path, tiny_corpus: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "scripts/bench_turn.py",
            f"bundle={tiny_bundle}",
            f"corpus={tiny_corpus / 'test.jsonl'}",
            "turns=2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "word arrival (+embedding)" in result.stdout and "bar: one update <= 10 ms" in result.stdout
    bad = subprocess.run(
        [sys.executable, "scripts/bench_turn.py", "bundle=/nonexistent"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "fix:" in bad.stderr
