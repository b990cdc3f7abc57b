"""The avatar driven by audio as it arrives: 16 kHz chunks in, frames with timestamps out.

Frame t needs the mel rows of frames t - past .. t + future (audio2kp's window, as in training), and
each row half an FFT of audio past its centre, so a frame is ready `lookahead_s` after its own start
(2 frames of look-ahead: 80 ms plus the rows' tail). `finish()` ends the utterance: the remaining frames
are rendered with silence after the end, exactly as `Avatar.mel_from_audio` pads a whole recording.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from avatarlab.avatar.audio2kp import mel_windows
from avatarlab.data.audio_features import N_FFT, fit_rows, log_mel_rows
from avatarlab.runtime.avatar import Avatar
from avatarlab.spec.stream import AUDIO_RATE, MEL_RATE


@dataclass
class AvatarFrame:
    """Frame `index` of the utterance, shown at `time_s` (index / fps) after its first sample."""

    index: int
    time_s: float
    image: np.ndarray  # uint8 [S, S, 3]


class StreamingAvatar:
    """One utterance at a time: push_audio() as chunks arrive, finish() at its end, reset() for the next.

    Mel rows are computed once each, from a buffer that keeps only the audio still needed; frames are
    rendered into `out` when a preallocated [S, S, 3] uint8 buffer is given (each yielded frame is then
    that buffer: read it before asking for the next)."""

    def __init__(self, avatar: Avatar, out: np.ndarray | None = None, first_frame: int = 0) -> None:
        self.avatar = avatar
        self.spec = avatar.spec
        self.out = out
        self.past, self.future = avatar.model.audio2kp.past, avatar.model.audio2kp.future
        self.hop = AUDIO_RATE // MEL_RATE
        self.reset(first_frame)

    @property
    def lookahead_s(self) -> float:
        """How long after a frame starts its audio must have arrived before it can be rendered."""
        last_row = (self.future + 1) * self.spec.mel_per_frame - 1  # relative to the frame's first row
        return (last_row * self.hop + N_FFT // 2) / AUDIO_RATE

    def reset(self, first_frame: int = 0) -> None:
        """Start a new utterance; `first_frame` continues the head-pose track from there (no jump)."""
        self._audio = np.zeros(0, np.float32)
        self._offset = 0  # stream index of self._audio[0]
        self._received = 0
        self._mel_buffer = np.zeros((256, self.spec.n_mels), np.float32)  # grows by doubling: no copy per push
        self._rows = 0  # mel rows 0..rows-1 of the utterance are in the buffer
        self._next_frame = 0
        self._pose_start = first_frame

    def push_audio(self, samples: np.ndarray) -> Iterator[AvatarFrame]:
        """Add mono float32 samples at 16 kHz; yield every frame that has become computable."""
        samples = np.asarray(samples, np.float32)
        if samples.ndim != 1:
            raise ValueError(f"push mono audio as a 1-D array, not shape {samples.shape}")
        self._audio = np.concatenate([self._audio, samples])
        self._received += len(samples)
        ready_rows = max(0, (self._received - N_FFT // 2) // self.hop + 1)  # rows whose window has fully arrived
        self._extend_mel(ready_rows)
        mpf = self.spec.mel_per_frame
        ready_frames = max(0, len(self._mel) // mpf - self.future)  # frame t needs rows up to (t + future + 1) * mpf
        yield from self._render_until(ready_frames, self._mel)

    def finish(self) -> Iterator[AvatarFrame]:
        """End the utterance: render its remaining frames (ceil(duration * fps) in all)."""
        total_rows = 1 + self._received // self.hop  # as log_mel of the whole recording
        self._audio = np.concatenate([self._audio, np.zeros(N_FFT, np.float32)])  # silence after the end
        self._extend_mel(total_rows)
        frames = int(np.ceil(self._received / AUDIO_RATE * self.spec.fps))
        mel = fit_rows(self._mel, frames * self.spec.mel_per_frame)
        yield from self._render_until(frames, mel)

    @property
    def _mel(self) -> np.ndarray:
        """The utterance's mel rows so far [rows, n_mels] (a view, not a copy)."""
        return self._mel_buffer[: self._rows]

    def _extend_mel(self, rows: int) -> None:
        have = self._rows
        if rows > have:
            if rows > len(self._mel_buffer):
                grown = np.zeros((max(rows, 2 * len(self._mel_buffer)), self.spec.n_mels), np.float32)
                grown[:have] = self._mel_buffer[:have]
                self._mel_buffer = grown
            self._mel_buffer[have:rows] = log_mel_rows(
                self._audio, self._offset, have, rows - have, AUDIO_RATE, self.spec.n_mels
            )
            self._rows = rows
        keep_from = max(0, self._rows * self.hop - N_FFT // 2)  # the next row's window starts here
        if keep_from > self._offset:
            self._audio = self._audio[keep_from - self._offset :]
            self._offset = keep_from

    def _render_until(self, frames: int, mel: np.ndarray) -> Iterator[AvatarFrame]:
        if frames <= self._next_frame:
            return
        wanted = np.arange(self._next_frame, frames)
        windows = mel_windows(mel, wanted, self.past, self.future, self.spec.mel_per_frame)  # [F, W, n_mels]
        codes, _ = self.avatar.codes_from_windows(windows)
        poses, conds = self.avatar.playback_track(len(wanted), start=self._pose_start + self._next_frame)
        for i, index in enumerate(wanted):
            image = self.avatar.render(poses[i], conds[i], codes[i], out=self.out)
            self._next_frame = int(index) + 1
            yield AvatarFrame(int(index), float(index) / self.spec.fps, image)
