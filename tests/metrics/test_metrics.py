from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from avatarlab.metrics.image import psnr, ssim
from avatarlab.metrics.landmarks import landmark_distance, mouth_opening
from avatarlab.metrics.lipsync import audio_envelope, lagged_correlation, lip_sync_score
from avatarlab.metrics.speed import frames_per_second, round_rates


def test_psnr_known_values() -> None:
    a = torch.zeros(4, 4, 3)
    assert float(psnr(a, a + 0.1)) == pytest.approx(20.0, abs=1e-4)
    assert float(psnr(np.zeros((2, 2)), np.full((2, 2), 0.01))) == pytest.approx(40.0, abs=1e-3)


def test_ssim_identity_and_noise() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((32, 32, 3))
    assert ssim(image, image) == pytest.approx(1.0)
    assert ssim(np.clip(image + rng.normal(0, 0.2, image.shape), 0, 1), image) < 0.9


def test_lmd_and_mouth_opening() -> None:
    real = np.zeros((3, 478, 3))
    pred = real.copy()
    pred[:, :, 0] += 3.0
    pred[1] = np.nan  # a frame without a face is skipped
    assert landmark_distance(pred, real) == pytest.approx(3.0)
    real[:, 14, 1] = 2.0  # lower inner lip 2 px below the upper
    real[:, 291, 0] = 8.0  # mouth 8 px wide
    assert mouth_opening(real)[0] == pytest.approx(0.25)


def test_lip_sync_correlation() -> None:
    rng = np.random.default_rng(1)
    loud = rng.random(100)
    assert lip_sync_score(loud, 0.5 * loud + 0.01) == pytest.approx(1.0)
    assert lagged_correlation(loud[2:], loud[:-2], max_lag=2) == pytest.approx(1.0)  # a 2-frame lag is tolerated
    assert abs(lip_sync_score(loud, rng.random(100))) < 0.5
    samples = np.concatenate([np.zeros(640), 0.5 * np.ones(640)])
    env = audio_envelope(samples, 16000, 2)
    assert env[0] < -70 and env[1] > -10


def test_frames_per_second() -> None:
    calls = []
    fps = frames_per_second(lambda i: calls.append(i), frames=5, warmup=2)
    assert len(calls) == 7 and fps > 0
    calls.clear()
    rates = round_rates(
        lambda i: calls.append(i) or time.sleep(0.02 if len(calls) > 2 else 0.0), frames=2, warmup=0, rounds=3
    )
    assert len(calls) == 6 and len(rates) == 3 and rates[0] > rates[2]  # the first round had no sleeps
    assert frames_per_second(lambda i: time.sleep(0.001), frames=3, warmup=0, rounds=3) < 1000.0


def test_mouth_darkness_follows_an_opening_mouth() -> None:
    from avatarlab.data import face_landmarks as fl
    from avatarlab.metrics.lipsync import mouth_darkness

    frames = np.full((3, 64, 64, 3), 200, np.uint8)
    landmarks = np.zeros((3, fl.NUM_LANDMARKS, 3), np.float32)
    landmarks[:, fl.MOUTH_LEFT, :2] = (20, 40)
    landmarks[:, fl.MOUTH_RIGHT, :2] = (44, 40)
    landmarks[:, fl.LIPS_OUTER_LOOP, 0] = 32.0
    landmarks[:, fl.LIPS_OUTER_LOOP, 1] = np.linspace(34, 46, len(fl.LIPS_OUTER_LOOP))
    frames[1, 38:42, 24:40] = 0  # a slightly open mouth
    frames[2, 35:45, 24:40] = 0  # a wide open one
    landmarks_missing = landmarks.copy()
    landmarks_missing[0, fl.MOUTH_LEFT] = np.nan
    dark = mouth_darkness(frames, landmarks)
    assert dark[0] == pytest.approx(1.0 - 200 / 255, abs=1e-3)  # a closed, uniformly lit box
    assert dark[0] < dark[1] < dark[2] < 1.0
    assert np.isnan(mouth_darkness(frames, landmarks_missing)[0])
