"""Videos avatarlab writes carry the AI-generated notice in their metadata, and play back what was written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from avatarlab.data.media import AI_NOTICE, probe, write_video


def test_written_videos_say_they_are_ai_generated(tmp_path: Path) -> None:
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(6)]
    write_video(tmp_path / "v.mp4", frames, 25)
    tags = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_format", "-of", "json", str(tmp_path / "v.mp4")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout  # fmt: skip
    )["format"]["tags"]
    assert tags["comment"] == AI_NOTICE and "AI-generated" in AI_NOTICE
    info = probe(tmp_path / "v.mp4")
    assert (info.width, info.height) == (64, 48)
