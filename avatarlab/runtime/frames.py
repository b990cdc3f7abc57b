"""Where rendered frames live until the transport reads them: preallocated buffers, no copy per stage.

`pose_index(k, window)` is the head pose of output frame k: the avatar's training track played back and forth
over its first `window` frames (as `Avatar.playback_track(window=...)` does). The idle loop and every reply
use it, so the head never jumps where speech starts or ends: only the mouth changes.

`IdleLoop` holds `window` frames (at most the training track's) of the avatar listening (silence for audio),
rendered ahead one at a time; output frame k shows its frame `pose_index(k)`. `FrameRing` holds the last few
frames of the reply playing: the renderer writes frame i into slot i % slots, the player shows the newest
frame not after the one it needs (a frame that is late is skipped, the previous one repeated), and the
renderer never writes over a slot the player may still show.
"""

from __future__ import annotations

import threading

import numpy as np

from avatarlab.runtime.avatar import Avatar
from avatarlab.runtime.streaming_avatar import StreamingAvatar


def pose_index(k: int, window: int) -> int:
    """The track frame of output frame k: back and forth over frames 0..window-1."""
    if window <= 1:
        return 0
    period = 2 * window - 2
    i = k % period
    return i if i < window else period - i


class IdleLoop:
    """`window` frames of the avatar listening, rendered ahead with render_next() (thread-safe)."""

    def __init__(self, avatar: Avatar, window: int) -> None:
        if window < 1:
            raise ValueError(f"the idle loop needs at least one frame, not {window}")
        window = min(window, int(avatar.model.pose_track.shape[0]))  # as Avatar.playback_track clips it
        self.window = window
        size = avatar.spec.size
        self.frames = np.zeros((window, size, size, 3), np.uint8)  # [W, S, S, 3]
        self._done = np.zeros(window, bool)
        self._stream = StreamingAvatar(avatar, first_frame=0, pose_window=window)
        self._stream.feed(np.zeros(round(window / avatar.spec.fps * 16000), np.float32))
        self._stream.close()
        self._order = list(range(window))  # frames rendered in track order: the loop fills from its start
        self._lock = threading.Lock()

    @property
    def complete(self) -> bool:
        with self._lock:
            return not self._order

    def render_next(self) -> bool:
        """Render one more frame; False when all are rendered."""
        with self._lock:
            if not self._order:
                return False
            index = self._order.pop(0)
        self._stream.render_frame(index, out=self.frames[index])
        with self._lock:
            self._done[index] = True
        return True

    def frame(self, k: int) -> np.ndarray:
        """The frame shown at output frame k (the nearest rendered one while the loop is being filled)."""
        want = pose_index(k, self.window)
        with self._lock:
            if not self._done[want]:
                done = np.flatnonzero(self._done)
                if len(done) == 0:
                    raise RuntimeError("no idle frame rendered yet: call render_next() first")
                want = int(done[np.argmin(np.abs(done - want))])
        return self.frames[want]


class FrameRing:
    """The reply's last `slots` frames, [slots, S, S, 3] uint8, preallocated."""

    def __init__(self, size: int, slots: int) -> None:
        if slots < 3:
            raise ValueError(f"a frame ring needs at least 3 slots, not {slots}")
        self.slots = slots
        self.buffer = np.zeros((slots, size, size, 3), np.uint8)
        self._held = np.full(slots, -1, np.int64)  # frame index each slot holds
        self._shown = -1  # newest frame index the player has taken
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._held[:] = -1
            self._shown = -1

    def slot_for(self, index: int) -> np.ndarray | None:
        """The buffer to render frame `index` into, or None if that would overwrite a frame still wanted."""
        with self._lock:
            if index >= self._shown + self.slots - 1 or index <= self._shown:
                return None
            slot = index % self.slots
            self._held[slot] = -1  # being rendered
            return self.buffer[slot]

    def publish(self, index: int) -> None:
        """Frame `index` is rendered into its slot."""
        with self._lock:
            self._held[index % self.slots] = index

    def take(self, index: int) -> tuple[int, np.ndarray] | None:
        """The newest rendered frame not after `index` (its index and buffer), or None."""
        with self._lock:
            candidates = self._held[(self._held >= 0) & (self._held <= index)]
            if len(candidates) == 0:
                return None
            best = int(candidates.max())
            self._shown = max(self._shown, best)
            return best, self.buffer[best % self.slots]

    @property
    def shown(self) -> int:
        with self._lock:
            return self._shown

    def rendered(self) -> list[int]:
        with self._lock:
            return sorted(int(i) for i in self._held if i >= 0)
