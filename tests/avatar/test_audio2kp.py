from __future__ import annotations

import numpy as np
import torch

from avatarlab.avatar.audio2kp import MEL_FLOOR, Audio2Keypoints, audio2kp_losses, mel_windows, mouth_opening


def test_mel_windows_are_causal_with_small_lookahead() -> None:
    mel = np.arange(40 * 2, dtype=np.float32).reshape(40, 2)  # 10 frames
    windows = mel_windows(mel, np.array([0, 5, 9]), past=2, future=1, mel_per_frame=4)
    assert windows.shape == (3, 16, 2)
    assert np.all(windows[0, :8] == MEL_FLOOR) and windows[0, 8, 0] == mel[0, 0]  # before the start: silence
    np.testing.assert_array_equal(windows[1], mel[12:28])  # frames 3..6 for frame 5
    assert np.all(windows[2, 12:] == MEL_FLOOR)  # after the end: silence


def test_audio2kp_shapes_and_losses() -> None:
    model = Audio2Keypoints(n_mels=8, num_keypoints=6, past=3, future=1)
    kp, blink = model(torch.randn(5, 20, 8))
    assert kp.shape == (5, 6, 3) and blink.shape == (5,)
    truth = torch.randn(2, 4, 6, 3)
    losses = audio2kp_losses(
        truth + 0.1,
        torch.zeros(2, 4),
        truth,
        torch.zeros(2, 4),
        torch.zeros(6, 3),
        torch.ones(()),
        [0, 1, 2, 3],
        {"mouth": 2.0},
    )
    assert set(losses) == {"position", "blink", "velocity", "mouth", "total"}
    assert float(losses["velocity"]) < 1e-10 and float(losses["position"]) > 0
    assert torch.isfinite(losses["total"])


def test_mouth_opening() -> None:
    kp = torch.zeros(1, 4, 3)
    kp[0, 1, 1] = 0.5  # lower lip 0.5 below the upper
    kp[0, 2, 0], kp[0, 3, 0] = -1.0, 1.0  # width 2
    assert float(mouth_opening(kp, [0, 1, 2, 3])[0]) == 0.25
