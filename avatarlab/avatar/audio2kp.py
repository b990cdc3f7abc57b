"""audio2kp, the motion model: a short window of log-mel features -> expression keypoints and blink.

Causal with a stated small look-ahead: frame t sees mel rows of frames t - past .. t + future
(`future` frames = 40 ms each, plus half a 25 ms analysis window), so it can stream.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from avatarlab.spec.stream import MEL_FLOOR


def mel_windows(mel: np.ndarray, frames: np.ndarray, past: int, future: int, mel_per_frame: int = 4) -> np.ndarray:
    """float32 [len(frames), (past + future + 1) * mel_per_frame, n_mels] windows, padded with silence."""
    rows = (past + future + 1) * mel_per_frame
    pad_front, pad_back = past * mel_per_frame, (future + 1) * mel_per_frame
    padded = np.concatenate(
        [
            np.full((pad_front, mel.shape[1]), MEL_FLOOR, np.float32),
            mel.astype(np.float32),
            np.full((pad_back, mel.shape[1]), MEL_FLOOR, np.float32),
        ]
    )
    starts = np.asarray(frames) * mel_per_frame  # padded index of (frame - past) * mpf
    index = starts[:, None] + np.arange(rows)[None]
    return padded[index]


class AudioEncoder(nn.Module):
    """Mel window [B, W, n_mels] -> code [B, out_dim]: strided 1D convolutions over time, then a linear map."""

    def __init__(self, n_mels: int, window: int, out_dim: int, channels: int = 96) -> None:
        super().__init__()
        self.register_buffer("mel_mean", torch.zeros(n_mels))
        self.register_buffer("mel_std", torch.ones(n_mels))
        layers: list[nn.Module] = []
        dim, length = n_mels, window
        for _ in range(3):
            layers += [nn.Conv1d(dim, channels, kernel_size=3, stride=2, padding=1), nn.GELU()]
            dim, length = channels, (length + 1) // 2
        self.conv = nn.Sequential(*layers)
        self.out = nn.Sequential(nn.Linear(channels * length, 128), nn.GELU(), nn.Linear(128, out_dim))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = ((mel - self.mel_mean) / self.mel_std).transpose(1, 2)  # [B, n_mels, W]
        x = self.conv(x)  # [B, channels, W']
        return self.out(x.flatten(1))


class Audio2Keypoints(nn.Module):
    """Predicts normalised keypoints [B, K, 3] (z-scored with the subject's statistics) and blink [B]."""

    def __init__(
        self,
        n_mels: int,
        num_keypoints: int,
        past: int = 8,
        future: int = 2,
        mel_per_frame: int = 4,
        channels: int = 96,
    ) -> None:
        super().__init__()
        self.past, self.future, self.mel_per_frame = past, future, mel_per_frame
        self.num_keypoints = num_keypoints
        self.encoder = AudioEncoder(n_mels, (past + future + 1) * mel_per_frame, num_keypoints * 3 + 1, channels)

    @property
    def lookahead_seconds(self) -> float:
        return self.future / 25.0 + 0.0125

    def forward(self, mel_window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.encoder(mel_window)
        return out[:, :-1].reshape(-1, self.num_keypoints, 3), torch.sigmoid(out[:, -1])


def mouth_opening(keypoints: torch.Tensor, mouth_indices: list[int]) -> torch.Tensor:
    """[...] inner-lip gap / mouth width from keypoints [..., K, 3] (x, y only), as the data pipeline measures it."""
    upper, lower, left, right = (keypoints[..., i, :2] for i in mouth_indices)
    return (upper - lower).norm(dim=-1) / (left - right).norm(dim=-1).clamp_min(1e-6)


def audio2kp_losses(
    pred_kp: torch.Tensor,
    pred_blink: torch.Tensor,
    true_kp: torch.Tensor,
    true_blink: torch.Tensor,
    kp_mean: torch.Tensor,
    kp_scale: torch.Tensor,
    mouth_indices: list[int],
    weights: dict[str, float],
) -> dict[str, torch.Tensor]:
    """Losses over chunks of consecutive frames: keypoints [A, C, K, 3] (normalised), blink [A, C]."""
    losses = {
        "position": nn.functional.mse_loss(pred_kp, true_kp),
        "blink": nn.functional.mse_loss(pred_blink, true_blink),
    }
    if pred_kp.shape[1] > 1:
        losses["velocity"] = nn.functional.mse_loss(pred_kp[:, 1:] - pred_kp[:, :-1], true_kp[:, 1:] - true_kp[:, :-1])
    if mouth_indices:
        pred_open = mouth_opening(pred_kp * kp_scale + kp_mean, mouth_indices)
        true_open = mouth_opening(true_kp * kp_scale + kp_mean, mouth_indices)
        losses["mouth"] = nn.functional.mse_loss(pred_open, true_open)
    losses["total"] = sum(weights.get(name, 1.0) * value for name, value in losses.items())
    return losses
