from __future__ import annotations

import numpy as np

from avatarlab.data import face_landmarks as fl
from avatarlab.metrics.artifacts import artifact_ratio, artifact_ratios, skin_mask
from tests.helpers.degrade import blur, salt


def test_skin_mask_keeps_cheeks_and_leaves_out_eyes_mouth_and_nostrils(photo_face: tuple) -> None:
    image, landmarks = photo_face
    mask = skin_mask(landmarks, image.shape[:2])
    point = lambda i: tuple(np.round(landmarks[i, [1, 0]]).astype(int))  # noqa: E731  (row, column)
    for excluded in (fl.UPPER_LIP_INNER, 468, 473, 2):  # mouth, both iris centres, under the nose tip
        assert not mask[point(excluded)]
    for cheek, forehead in ((205, 151), (425, 151)):  # both cheeks, the forehead
        assert mask[point(cheek)] and mask[point(forehead)]
    assert 0.1 < mask.sum() / (np.ptp(landmarks[:, 0]) * np.ptp(landmarks[:, 1])) < 0.7
    assert not skin_mask(np.full_like(landmarks, np.nan), image.shape[:2]).any()


def test_real_skin_reads_one_speckle_above_blur_below(photo_face: tuple) -> None:
    image, landmarks = photo_face
    real, points = image[None], landmarks[None]
    assert artifact_ratio(real, real, points) == 1.0
    assert artifact_ratio(salt(real), real, points) > 1.2
    assert artifact_ratio(blur(real), real, points) < 0.8
    assert np.isnan(artifact_ratios(real, real, np.full_like(points, np.nan))).all()
