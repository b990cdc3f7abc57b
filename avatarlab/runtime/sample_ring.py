"""Audio kept by absolute sample index in a fixed buffer: the last `capacity` samples of a stream."""

from __future__ import annotations

import numpy as np


class SampleRing:
    """write(start, audio) puts samples at stream positions start..; read(start, count) gives them back (a copy).
    Only the last `capacity` positions are kept; positions before those, or beyond the last written, read as zeros.
    Not thread-safe: its owner locks."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a sample ring needs a capacity >= 1, not {capacity}")
        self._buffer = np.zeros(capacity, np.float32)
        self.end = 0  # one past the highest position written

    @property
    def capacity(self) -> int:
        return len(self._buffer)

    def write(self, start: int, audio: np.ndarray) -> None:
        if len(audio) > self.capacity:  # only the last `capacity` samples can stay
            start, audio = start + len(audio) - self.capacity, audio[-self.capacity :]
        first = start % self.capacity
        cut = min(len(audio), self.capacity - first)
        self._buffer[first : first + cut] = audio[:cut]
        self._buffer[: len(audio) - cut] = audio[cut:]
        self.end = max(self.end, start + len(audio))

    def read(self, start: int, count: int) -> np.ndarray:
        """Positions start..start+count-1 (zeros outside the kept ones)."""
        out = np.zeros(count, np.float32)
        lo, hi = max(start, self.end - self.capacity, 0), min(start + count, self.end)
        if hi > lo:
            first = lo % self.capacity
            cut = min(hi - lo, self.capacity - first)
            out[lo - start : lo - start + cut] = self._buffer[first : first + cut]
            out[lo - start + cut : hi - start] = self._buffer[: hi - lo - cut]
        return out
