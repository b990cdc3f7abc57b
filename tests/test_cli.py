"""Option checks shared by every command line, and atomic outputs that refuse to clobber."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from avatarlab.atomic import atomic_path
from avatarlab.cli import checked, key_value_options
from avatarlab.errors import UserInputError
from avatarlab.export.bundle import write_bundle
from avatarlab.runtime.bundle import read_bundle

REPO = Path(__file__).resolve().parent.parent


def test_checked_converts_and_bounds() -> None:
    assert checked("threads", "2", int, minimum=1) == 2
    assert checked("rate", 0.5, float, above=0.0) == 0.5
    assert checked("limit", None, int, minimum=1) is None
    with pytest.raises(UserInputError, match="threads='abc' is not an integer"):
        checked("threads", "abc", int)
    with pytest.raises(UserInputError, match="is not an integer"):
        checked("frames", 2.5, int)
    with pytest.raises(UserInputError, match="threads=0 is below 1"):
        checked("threads", 0, int, minimum=1)
    with pytest.raises(UserInputError, match="must be more than 0"):
        checked("max_seconds", -1, float, above=0.0)


def test_key_value_options() -> None:
    defaults = {"bundle": "b", "threads": 2, "scale": 1.0}
    assert key_value_options(["threads=3", "scale=0.5"], defaults) == {"bundle": "b", "threads": 3, "scale": 0.5}
    with pytest.raises(UserInputError, match="unknown argument 'bundel=x'"):
        key_value_options(["bundel=x"], defaults)
    with pytest.raises(UserInputError, match="unknown argument"):
        key_value_options(["threads"], defaults)
    with pytest.raises(UserInputError, match="not an integer"):
        key_value_options(["threads=two"], defaults)


def test_atomic_path_never_swaps_a_file_for_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "out.wav"
    folder.mkdir()
    with pytest.raises(UserInputError, match="already exists as a folder"):
        with atomic_path(folder) as target:
            target.write_bytes(b"data")
    assert folder.is_dir() and list(tmp_path.iterdir()) == [folder]  # nothing replaced, no temporary left


def test_export_refuses_a_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    with pytest.raises(UserInputError, match="is not a bundle"):
        write_bundle(precious, "avatar", {"w": torch.zeros(2)}, {})
    assert (precious / "keep.txt").read_text() == "mine"
    bundle = write_bundle(tmp_path / "bundle", "avatar", {"w": torch.zeros(2)}, {})
    write_bundle(bundle, "avatar", {"w": torch.ones(2)}, {})  # an earlier bundle may be overwritten
    assert torch.equal(read_bundle(bundle).tensors["w"], torch.ones(2))


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["-m", "avatarlab.render", "bundle=b", "audio=a.wav", "out=o.mp4", "threads=abc"],
            "threads='abc' is not an integer",
        ),
        (["-m", "avatarlab.evaluate", "run=r", "max_frames=0"], "max_frames=0 is below 1"),
        (["-m", "avatarlab.evaluate", "run=r", "pixel_sigma=-0.5"], "pixel_sigma=-0.5 is below 0"),
        (["-m", "avatarlab.data.speech", "text=hi", "out=o.wav", "rate=0"], "rate=0 is below 8000"),
        (["-m", "avatarlab.turn.corpus", "val_fraction=0.6", "test_fraction=0.5"], "leaves no training turns"),
    ],
)
def test_commands_reject_bad_options_without_a_traceback(args: list[str], message: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_speech_speaks_text_that_looks_like_an_option(tmp_path: Path) -> None:
    out = tmp_path / "minus.wav"
    result = subprocess.run(
        [sys.executable, "-m", "avatarlab.data.speech", "text=-5 degrees outside", f"out={out}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 16000  # over half a second of 16-bit speech
