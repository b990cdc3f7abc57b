"""`python serve.py` checks its options and files before anything slow, and says what to fix (exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "serve.py"), *args], capture_output=True, text=True, cwd=REPO, timeout=120
    )


@pytest.mark.parametrize(
    "args,problem,fix",
    [
        (["mode=simulate"], "needs a script", "script=configs/serve/scripts/demo.yaml"),
        (
            ["mode=simulate", "script=/nowhere/talk.yaml"],
            "no conversation script at /nowhere/talk.yaml",
            "script=FILE.yaml",
        ),
        (["mode=chat"], "mode='chat' is not a mode", "mode=live or mode=simulate"),
        (["threads=0", "mode=simulate", "script=x.yaml"], "threads", ""),
        (["live.image_format=png"], "live.image_format must be one of jpeg, webp", "live.image_format=webp"),
        (["live.image_quality=101"], "live.image_quality=101 is above 100", "1-100"),
        (["live.send_buffer_bytes=10"], "live.send_buffer_bytes", ""),
    ],
)
def test_bad_options_are_refused_with_the_fix(args: list[str], problem: str, fix: str) -> None:
    result = serve(*args)
    assert result.returncode == 2, result.stderr
    assert problem in result.stderr and fix in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_bundle_is_named_with_the_command_that_makes_it(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("turns:\n  - audio: tone.wav\n")
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "tone.wav", 0.1 * np.sin(np.arange(16000) / 5.0).astype(np.float32), 16000)
    result = serve("mode=simulate", f"script={script}", f"avatar_bundle={tmp_path / 'none'}", f"out={tmp_path / 'out'}")
    assert result.returncode == 2, result.stderr
    assert f"no avatar bundle at {tmp_path / 'none'}" in result.stderr and "make demo" in result.stderr
    assert not (tmp_path / "out" / "s.mp4").exists()
