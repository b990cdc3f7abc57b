"""One reply's audio as it will play: phrases appended as speech synthesis makes them, read by the player.

The track is a preallocated float32 buffer at 16 kHz (no copy per read: `read` returns a view). Phrases are
appended whole (their audio and word times); when the player reaches the end of what has been appended before
the reply is complete, it pads the track with silence (`pad_to`), so that the track is exactly what the
listener hears and its sample offsets are playback offsets. Thread-safe: the responder appends, the player
reads and pads, the renderer follows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from avatarlab.runtime.tts import SpokenWord
from avatarlab.spec.stream import AUDIO_RATE


class TrackFull(RuntimeError):
    """A phrase does not fit in the reply's buffer (the reply is longer than max_s)."""


@dataclass(frozen=True)
class TrackPhrase:
    """A phrase of the reply: its text, its words (seconds of its own audio) and its first sample in the track."""

    text: str
    words: tuple[SpokenWord, ...]
    offset: int
    samples: int


class ReplyTrack:
    """The audio of reply `reply` (an id of the Conversation); at most `max_s` seconds."""

    def __init__(self, reply: int, max_s: float) -> None:
        if not max_s > 0:
            raise ValueError(f"max_s must be > 0, not {max_s}")
        self.reply = reply
        self._audio = np.zeros(round(max_s * AUDIO_RATE), np.float32)
        self._length = 0  # samples appended (speech and silence padding)
        self._closed = False
        self.phrases: list[TrackPhrase] = []
        self.padded = 0  # silence samples inserted because the next phrase was late
        self._lock = threading.Lock()
        self._grown = threading.Condition(self._lock)

    @property
    def length(self) -> int:
        with self._lock:
            return self._length

    @property
    def closed(self) -> bool:
        """No phrase will follow."""
        with self._lock:
            return self._closed

    @property
    def capacity(self) -> int:
        return len(self._audio)

    def append(self, text: str, audio: np.ndarray, words: list[SpokenWord] | tuple[SpokenWord, ...]) -> TrackPhrase:
        """Add a phrase after what is there; its place in the track. A TrackFull when it does not fit."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"reply {self.reply}'s track is closed")
            n = len(audio)
            if self._length + n > len(self._audio):
                raise TrackFull(f"reply {self.reply} is longer than {len(self._audio) / AUDIO_RATE:.0f} s")
            self._audio[self._length : self._length + n] = audio
            phrase = TrackPhrase(text, tuple(words), self._length, n)
            self.phrases.append(phrase)
            self._length += n
            self._grown.notify_all()
            return phrase

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._grown.notify_all()

    def pad_to(self, samples: int) -> int:
        """Silence up to `samples` (the player is there and no phrase has come); silence samples added."""
        with self._lock:
            samples = min(samples, len(self._audio))
            added = max(0, samples - self._length)
            self._length += added  # the buffer is zeros there already
            self.padded += added
            if added:
                self._grown.notify_all()
            return added

    def read(self, start: int, count: int) -> np.ndarray:
        """Samples [start, start + count) as far as appended: a view into the buffer (read it before it is reused)."""
        with self._lock:
            return self._audio[start : min(start + count, self._length)]

    def wait(self, beyond: int, timeout: float) -> bool:
        """Block until the track holds more than `beyond` samples or is closed; whether it does."""
        with self._grown:
            return self._grown.wait_for(lambda: self._length > beyond or self._closed, timeout)

    def finished_at(self, position: int) -> bool:
        """Whether a player at sample `position` has played the whole reply."""
        with self._lock:
            return self._closed and position >= self._length
