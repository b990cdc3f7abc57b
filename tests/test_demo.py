"""The quick start's driver: each step runs, reports where its output went, and is skipped once it exists."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from avatarlab import demo
from avatarlab.steps import Step


def test_demo_runs_its_steps_and_skips_what_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "made.txt"
    write = Step("write a file", [sys.executable, "-c", f"open({str(output)!r}, 'w').write('ok')"], output)
    monkeypatch.setattr(demo, "ROOT", tmp_path)
    monkeypatch.setattr(demo, "steps", lambda: [write])
    demo.main()
    assert output.read_text() == "ok"
    assert "-> made.txt" in capsys.readouterr().out
    demo.main()  # a rerun finds the output and skips the step
    assert "already done: made.txt exists" in capsys.readouterr().out
