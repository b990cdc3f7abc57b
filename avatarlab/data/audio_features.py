"""Log-mel audio features aligned to 25 fps video frames (4 rows of 10 ms per frame)."""

from __future__ import annotations

import librosa
import numpy as np

MEL_RATE = 100  # rows per second


def log_mel(
    samples: np.ndarray, rate: int = 16000, n_mels: int = 80, num_frames: int | None = None, fps: float = 25.0
) -> np.ndarray:
    """float32 [T * rate/fps/..., n_mels]: log-mel with a 25 ms window and 10 ms hop, row i centred at i * 10 ms.

    With `num_frames`, the result is cut or zero-padded (in log space: the floor) to num_frames * 100/fps rows.
    """
    hop = rate // MEL_RATE
    mel = librosa.feature.melspectrogram(
        y=samples.astype(np.float32),
        sr=rate,
        n_fft=512,
        win_length=int(0.025 * rate),
        hop_length=hop,
        n_mels=n_mels,
        fmin=55,
        fmax=rate // 2,
        center=True,
        power=2.0,
    )
    features = np.log(mel + 1e-6).T.astype(np.float32)  # [rows, n_mels]
    if num_frames is not None:
        rows = int(round(num_frames * MEL_RATE / fps))
        if len(features) < rows:
            floor = np.full((rows - len(features), n_mels), np.log(1e-6), np.float32)
            features = np.concatenate([features, floor])
        features = features[:rows]
    return features
