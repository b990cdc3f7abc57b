"""Offline speech synthesis with word timings: espeak-ng through its C library (libespeak-ng).

espeak-ng reports an event at the start of every word it speaks; word ends come from the audio
energy between one word's start and the next. Punctuation in the text shapes the intonation
(a comma gives a continuation contour, a full stop a final fall).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass

import numpy as np

from avatarlab.errors import UserInputError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass
class Speech:
    """Synthesized speech: mono float32 samples and one (start, end) in seconds per token."""

    audio: np.ndarray
    sample_rate: int
    spans: list[tuple[float, float]]


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: name (e.g. "en-us+m3"), rate in words per minute, pitch and range 0..99."""

    name: str = "en-us"
    rate: int = 170
    pitch: int = 50
    range: int = 50


class EspeakSynthesizer:
    """espeak-ng through libespeak-ng, one process-wide engine (the library keeps global state)."""

    _lock = threading.Lock()
    _lib: ctypes.CDLL | None = None
    _sample_rate = 0

    def __init__(self) -> None:
        with self._lock:
            if EspeakSynthesizer._lib is None:
                EspeakSynthesizer._lib, EspeakSynthesizer._sample_rate = self._load()
        self._audio: list[np.ndarray] = []
        self._events: list[tuple[int, int]] = []
        self._callback = _Callback(self._on_audio)

    @staticmethod
    def _load() -> tuple[ctypes.CDLL, int]:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            raise UserInputError(
                f"espeak-ng's library ({name}) could not be loaded: {e}",
                "install espeak-ng (`sudo apt-get install espeak-ng`, or `make setup`)",
            ) from e
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
        if rate <= 0:
            raise UserInputError(
                "espeak-ng failed to initialise", "check that espeak-ng-data is installed with espeak-ng"
            )
        return lib, int(rate)

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    def _on_audio(self, wav: ctypes.POINTER(ctypes.c_short), n: int, events: ctypes.POINTER(_Event)) -> int:
        if n > 0:
            self._audio.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_WORD:
                self._events.append((events[i].text_position - 1, events[i].sample))
            i += 1
        return 0

    def synthesize(self, tokens: list[str], voice: Voice) -> Speech:
        """Speak `tokens` (words with their punctuation attached) joined by spaces.

        Returns the audio and, per token, its start (from espeak's word events) and end (the last
        frame above the energy floor before the next word starts).
        """
        text = " ".join(tokens)
        offsets = np.cumsum([0] + [len(t) + 1 for t in tokens[:-1]])
        lib = self._lib
        assert lib is not None
        with self._lock:
            self._audio, self._events = [], []
            lib.espeak_SetSynthCallback(self._callback)
            if lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                raise UserInputError(
                    f"espeak-ng has no voice {voice.name!r}", "list voices with `espeak-ng --voices=en`"
                )
            for param, value in (
                (_PARAM_RATE, voice.rate),
                (_PARAM_PITCH, voice.pitch),
                (_PARAM_RANGE, voice.range),
                (_PARAM_VOLUME, 100),
            ):
                lib.espeak_SetParameter(param, int(value), 0)
            data = text.encode("utf-8")
            if len(data) != len(text):
                raise UserInputError(f"text must be ASCII for word alignment: {text!r}", "use plain ASCII words")
            lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            audio = np.concatenate(self._audio) if self._audio else np.zeros(0, np.float32)
            events = list(self._events)
        starts = _token_starts(events, offsets, len(tokens), len(audio))
        spans = _token_spans(audio, starts, self._sample_rate)
        return Speech(audio=audio, sample_rate=self._sample_rate, spans=spans)


def _token_starts(events: list[tuple[int, int]], offsets: np.ndarray, n_tokens: int, n_samples: int) -> np.ndarray:
    """Start sample of every token; tokens espeak merged into a neighbour get an interpolated start."""
    starts = np.full(n_tokens, -1, dtype=np.int64)
    for char_pos, sample in events:
        token = int(np.searchsorted(offsets, char_pos, side="right") - 1)
        if 0 <= token < n_tokens and starts[token] < 0:
            starts[token] = sample
    known = np.flatnonzero(starts >= 0)
    if len(known) == 0:
        return np.linspace(0, n_samples, n_tokens, endpoint=False).astype(np.int64)
    if starts[0] < 0:
        starts[0] = 0
        known = np.flatnonzero(starts >= 0)
    missing = np.flatnonzero(starts < 0)
    if len(missing):
        # Interpolate by character offset between the known neighbours (a word espeak ran together).
        anchors_x = np.append(offsets[known], offsets[-1] + 8).astype(np.float64)
        anchors_y = np.append(starts[known], n_samples).astype(np.float64)
        starts[missing] = np.interp(offsets[missing], anchors_x, anchors_y).astype(np.int64)
    return np.maximum.accumulate(starts)


def _token_spans(
    audio: np.ndarray, starts: np.ndarray, rate: int, hop_s: float = 0.005, floor_db: float = -45.0
) -> list[tuple[float, float]]:
    """(start, end) seconds per token: the end is the last loud frame before the next token starts."""
    hop = max(1, int(rate * hop_s))
    n_frames = len(audio) // hop
    frames = audio[: n_frames * hop].reshape(n_frames, hop)  # [F, hop]
    db = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    loud = db > max(float(db.max()) - 50.0, floor_db) if n_frames else np.zeros(0, bool)
    bounds = list(starts) + [len(audio)]
    spans = []
    for i in range(len(starts)):
        a, b = int(bounds[i]), int(bounds[i + 1])
        fa, fb = a // hop, max(a // hop + 1, b // hop)
        idx = np.flatnonzero(loud[fa:fb])
        end = (fa + idx[-1] + 1) * hop if len(idx) else min(b, a + hop)
        first = (fa + idx[0]) * hop if len(idx) else a
        spans.append((max(a, first) / rate, max(min(end, b), a + hop) / rate))
    return spans
