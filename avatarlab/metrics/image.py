"""Image metrics: PSNR and SSIM on images in [0, 1]."""

from __future__ import annotations

import numpy as np
import torch


def psnr(pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for images in [0, 1] (any matching shapes)."""
    p = torch.as_tensor(pred, dtype=torch.float32)
    t = torch.as_tensor(target, dtype=torch.float32)
    mse = ((p - t) ** 2).mean().clamp_min(1e-10)
    return -10.0 * torch.log10(mse)


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """Structural similarity of two RGB images [H, W, 3] in [0, 1] (scikit-image, Gaussian window)."""
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            np.asarray(pred, np.float64),
            np.asarray(target, np.float64),
            channel_axis=-1,
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )
