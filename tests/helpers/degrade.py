"""Image degradations for metric tests: blur, JPEG, a render-like look, speckle."""

from __future__ import annotations

import cv2
import numpy as np


def blur(frames: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Gaussian blur of every RGB frame [T, H, W, 3] (uint8)."""
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames])


def jpeg(frames: np.ndarray, quality: int = 75) -> np.ndarray:
    """A JPEG round trip of every RGB frame [T, H, W, 3] (uint8) at `quality`."""
    out = []
    for frame in frames:
        ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        out.append(cv2.cvtColor(cv2.imdecode(buffer, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return np.stack(out)


def render_like(frames: np.ndarray) -> np.ndarray:
    """Frames that look rendered: softened (sigma 1.2) and posterised to 16 levels a channel."""
    return (blur(frames, 1.2) // 16 * 16 + 8).astype(np.uint8)


def salt(frames: np.ndarray, fraction: float = 0.01, seed: int = 0) -> np.ndarray:
    """Speckle: `fraction` of the pixels set to black or white."""
    rng = np.random.default_rng(seed)
    out = frames.copy()
    hit = rng.random(frames.shape[:-1]) < fraction
    out[hit] = np.where(rng.random((int(hit.sum()), 1)) < 0.5, 0, 255).astype(np.uint8)
    return out
