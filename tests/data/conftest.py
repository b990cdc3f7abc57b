from __future__ import annotations

from pathlib import Path

import pytest

from avatarlab.config_args import from_config
from avatarlab.data.prepare import prepare_subject
from avatarlab.data.synthetic import generate


@pytest.fixture(scope="session")
def synthetic_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s synthetic talking video with its ground truth."""
    return generate(
        tmp_path_factory.mktemp("synthetic") / "clip", from_config("synthetic.yaml", "params", seed=3, seconds=4.0)
    )


@pytest.fixture(scope="session")
def prepared_clip(synthetic_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_subject(
        synthetic_clip / "video.mp4",
        tmp_path_factory.mktemp("prepared") / "clip",
        "clip",
        from_config("prepare.yaml", "params", size=128),
        force=False,
    )
