"""Fixtures of the metric tests: the shared real clip prepared at 128 px, and a photographed face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from avatarlab.config_args import from_config
from avatarlab.data.prepare import prepare_subject
from avatarlab.data.subject import Subject


@pytest.fixture(scope="session")
def real_clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Subject:
    """../shared/data/hdtf_katie_8s.mp4 (8 s, a woman speaking to camera) prepared at 128 px."""
    out = prepare_subject(
        shared_data / "hdtf_katie_8s.mp4",
        tmp_path_factory.mktemp("real_clip") / "katie",
        "katie",
        from_config("prepare.yaml", "params", size=128),
        force=False,
    )
    return Subject.open(out)


@pytest.fixture(scope="session")
def photo_face() -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's astronaut photograph at 256 px [256, 256, 3] and its FaceMesh landmarks [478, 3]."""
    from skimage import data

    from avatarlab.data.face_tracking import track_faces

    image = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    tracks = track_faces([image], max_faces=1, static=True)
    assert tracks.detected[0]
    return image, tracks.landmarks[0]
