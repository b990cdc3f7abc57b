"""Log-mel audio features aligned to 25 fps video frames (4 rows of 10 ms per frame).

Row r is centred at r * 10 ms, with a 25 ms window in a 512-sample FFT; audio before the start and after
the end counts as silence. `log_mel` computes a whole recording, `log_mel_rows` any run of rows from a
stream's buffer; both give the same numbers.
"""

from __future__ import annotations

import functools

import librosa
import numpy as np

from avatarlab.spec.stream import AUDIO_RATE, MEL_FLOOR, MEL_RATE, VIDEO_FPS

N_FFT = 512


@functools.lru_cache(maxsize=8)
def _mel_basis(rate: int, n_mels: int) -> np.ndarray:
    """[n_mels, N_FFT // 2 + 1] mel filters from 55 Hz to Nyquist (computed once per rate and size)."""
    return librosa.filters.mel(sr=rate, n_fft=N_FFT, n_mels=n_mels, fmin=55, fmax=rate // 2)


def _log_power_mel(y: np.ndarray, rate: int, n_mels: int, center: bool) -> np.ndarray:
    """float32 [rows, n_mels]; with center=False, row j is the window that starts at sample j * hop."""
    spectrum = (
        np.abs(
            librosa.stft(
                y=y.astype(np.float32),
                n_fft=N_FFT,
                hop_length=rate // MEL_RATE,
                win_length=int(0.025 * rate),
                center=center,
                pad_mode="constant",
            )
        )
        ** 2.0
    )  # [N_FFT // 2 + 1, rows]
    mel = np.einsum("...ft,mf->...mt", spectrum, _mel_basis(rate, n_mels), optimize=True)  # [n_mels, rows]
    return np.log(mel + 1e-6).T.astype(np.float32)


def log_mel(
    samples: np.ndarray,
    rate: int = AUDIO_RATE,
    n_mels: int = 80,
    num_frames: int | None = None,
    fps: float = VIDEO_FPS,
) -> np.ndarray:
    """float32 [1 + len // hop, n_mels]: the log-mel of a whole recording, row i centred at i * 10 ms.

    With `num_frames`, the result is cut or padded (with the silence floor) to num_frames * 100/fps rows.
    """
    features = _log_power_mel(samples, rate, n_mels, center=True)  # [rows, n_mels]
    if num_frames is not None:
        features = fit_rows(features, int(round(num_frames * MEL_RATE / fps)))
    return features


def fit_rows(features: np.ndarray, rows: int) -> np.ndarray:
    """`features` [R, n_mels] cut to `rows`, or padded to it with the silence floor."""
    if len(features) < rows:
        floor = np.full((rows - len(features), features.shape[1]), MEL_FLOOR, np.float32)
        features = np.concatenate([features, floor])
    return features[:rows]


def log_mel_rows(audio: np.ndarray, offset: int, first: int, count: int, rate: int, n_mels: int) -> np.ndarray:
    """float32 [count, n_mels]: rows first..first+count-1 of the stream whose samples `audio` holds from
    sample `offset` on. The buffer must reach half an FFT past the last row's centre (zeros beyond a
    stream's end, as `log_mel` pads); samples before 0 are silence."""
    hop, half = rate // MEL_RATE, N_FFT // 2
    lo, hi = first * hop - half, (first + count - 1) * hop + half  # the sample span the rows' windows cover
    if max(lo, 0) < offset or hi - offset > len(audio):
        raise ValueError(f"rows {first}..{first + count - 1} need samples {lo}..{hi}, the buffer holds {offset}..")
    pad = max(0, -lo)
    segment = audio[max(lo, 0) - offset : hi - offset]
    if pad:
        segment = np.concatenate([np.zeros(pad, np.float32), segment])
    return _log_power_mel(segment, rate, n_mels, center=False)[:count]
