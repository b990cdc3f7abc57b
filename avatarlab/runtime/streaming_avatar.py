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
import torch

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
    """One utterance at a time: audio in as chunks arrive, frames out; reset() for the next.

    Two ways to drive it. In order: push_audio() yields every frame that has become computable, finish()
    the rest. Out of order (a player that drops frames when rendering falls behind): feed() audio, close() at
    the end, and render_frame(i) only the frames that will be shown; `ready` frames have their codes.

    Mel rows and condition codes are computed once each, from a buffer that keeps only the audio still needed;
    frames are rendered into `out` when a preallocated [S, S, 3] uint8 buffer is given (each yielded frame is
    then that buffer: read it before asking for the next). Frame i takes the head pose of playback-track frame
    first_frame + i (within the track's first `pose_window` frames when given, see Avatar.playback_track)."""

    def __init__(
        self, avatar: Avatar, out: np.ndarray | None = None, first_frame: int = 0, pose_window: int | None = None
    ) -> None:
        self.avatar = avatar
        self.spec = avatar.spec
        self.out = out
        self.pose_window = pose_window
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
        self._codes: torch.Tensor | None = None  # [capacity, C], grows by doubling
        self._ready = 0  # frames whose codes are known
        self._total: int | None = None  # frames of the utterance, once closed
        self._next_frame = 0  # next frame push_audio()/finish() yield
        self._pose_start = first_frame

    def set_pose_start(self, first_frame: int) -> None:
        """Frame i takes playback-track pose first_frame + i from now on (codes are kept: they do not depend on it)."""
        self._pose_start = first_frame

    @property
    def ready(self) -> int:
        """Frames 0..ready-1 can be rendered."""
        return self._ready

    @property
    def total(self) -> int | None:
        """Frames in the utterance (ceil(duration * fps)) once close() has been called, else None."""
        return self._total

    @property
    def received_s(self) -> float:
        """Seconds of audio fed so far."""
        return self._received / AUDIO_RATE

    def feed(self, samples: np.ndarray) -> int:
        """Add mono float32 samples at 16 kHz; the number of frames now ready."""
        if self._total is not None:
            raise RuntimeError("the utterance is closed: reset() before feeding the next one")
        samples = np.asarray(samples, np.float32)
        if samples.ndim != 1:
            raise ValueError(f"push mono audio as a 1-D array, not shape {samples.shape}")
        self._audio = np.concatenate([self._audio, samples])
        self._received += len(samples)
        ready_rows = max(0, (self._received - N_FFT // 2) // self.hop + 1)  # rows whose window has fully arrived
        self._extend_mel(ready_rows)
        mpf = self.spec.mel_per_frame
        self._code_until(
            max(0, len(self._mel) // mpf - self.future), self._mel
        )  # frame t needs rows to (t+future+1)*mpf
        return self._ready

    def close(self) -> int:
        """End the utterance (silence after its end, exactly as a whole recording is padded); its frame count."""
        if self._total is None:
            total_rows = 1 + self._received // self.hop  # as log_mel of the whole recording
            self._audio = np.concatenate([self._audio, np.zeros(N_FFT, np.float32)])
            self._extend_mel(total_rows)
            self._total = int(np.ceil(self._received / AUDIO_RATE * self.spec.fps))
            self._code_until(self._total, fit_rows(self._mel, self._total * self.spec.mel_per_frame))
        return self._total

    def render_frame(self, index: int, out: np.ndarray | None = None) -> AvatarFrame:
        """Frame `index` (< ready), into `out` (or the stream's own buffer, or a new array)."""
        if not 0 <= index < self._ready:
            raise IndexError(f"frame {index} is not ready ({self._ready} are)")
        assert self._codes is not None
        pose, cond = self.avatar.playback_track(1, start=self._pose_start + index, window=self.pose_window)
        image = self.avatar.render(pose[0], cond[0], self._codes[index], out=self.out if out is None else out)
        return AvatarFrame(index, index / self.spec.fps, image)

    def push_audio(self, samples: np.ndarray) -> Iterator[AvatarFrame]:
        """Add mono float32 samples at 16 kHz; yield every frame that has become computable."""
        self.feed(samples)
        yield from self._render_in_order()

    def finish(self) -> Iterator[AvatarFrame]:
        """End the utterance: render its remaining frames (ceil(duration * fps) in all)."""
        self.close()
        yield from self._render_in_order()

    def _render_in_order(self) -> Iterator[AvatarFrame]:
        while self._next_frame < self._ready:
            frame = self.render_frame(self._next_frame)
            self._next_frame += 1
            yield frame

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

    def _code_until(self, frames: int, mel: np.ndarray) -> None:
        """Codes of frames ready..frames-1 from `mel`."""
        if frames <= self._ready:
            return
        wanted = np.arange(self._ready, frames)
        windows = mel_windows(mel, wanted, self.past, self.future, self.spec.mel_per_frame)  # [F, W, n_mels]
        codes, _ = self.avatar.codes_from_windows(windows)  # [F, C]
        if self._codes is None or frames > len(self._codes):
            grown = codes.new_zeros(
                (max(frames, 64, 0 if self._codes is None else 2 * len(self._codes)), codes.shape[1])
            )
            if self._codes is not None:
                grown[: self._ready] = self._codes[: self._ready]
            self._codes = grown
        self._codes[self._ready : frames] = codes
        self._ready = frames
