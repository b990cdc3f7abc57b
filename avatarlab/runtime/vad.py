"""Streaming voice activity: silero-vad on 16 kHz float32 chunks of any size, speech start/end events out.

The model is the ONNX file that ships inside the silero-vad wheel, run by onnxruntime on one thread (the
file is located without importing `silero_vad`, whose import sets torch to one thread for the whole
process). It scores 32 ms frames (512 samples, with the previous 64 samples as context); a start is
declared once speech has lasted `min_speech_s`, an end once silence has lasted `min_silence_s`, with
hysteresis between `threshold` and `neg_threshold`. Event times are stream seconds (samples pushed since
the last reset / 16000), widened by `speech_pad_s` on each side.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatarlab.runtime.audio_input import mono_chunk
from avatarlab.spec.stream import AUDIO_RATE

FRAME = 512  # samples a frame at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous frame the model sees before each frame
STATE_SHAPE = (2, 1, 128)


@dataclass(frozen=True)
class VadEvent:
    """Speech begins ("start") or ends ("end") at stream time `t`; it was decided at `decided_at`."""

    kind: str
    t: float
    decided_at: float


@dataclass(frozen=True)
class VadStep:
    """What one chunk completed: frame i covers [start + i * frame_s, start + (i + 1) * frame_s)."""

    start: float
    probs: np.ndarray  # [F] float32 speech probability of each completed frame
    events: list[VadEvent]


def silero_model_file(name: str = "silero_vad.onnx") -> Path:
    """The ONNX model inside the installed silero-vad package."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("silero-vad is not installed: pip install -e . (or pip install silero-vad)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    if not path.is_file():
        raise ImportError(f"the silero-vad package has no {name} (found {path.parent}); reinstall silero-vad>=5.1")
    return path


class SileroVAD:
    """One audio stream: accept() chunks as they arrive, flush() at its end, reset() to start again at 0 s."""

    frame_s = FRAME / AUDIO_RATE

    def __init__(
        self, threshold: float, neg_threshold: float, min_speech_s: float, min_silence_s: float, speech_pad_s: float
    ) -> None:
        if not 0.0 < neg_threshold <= threshold < 1.0:
            raise ValueError(f"need 0 < neg_threshold <= threshold < 1, not {neg_threshold}, {threshold}")
        if min(min_speech_s, min_silence_s, speech_pad_s) < 0:
            raise ValueError("min_speech_s, min_silence_s and speech_pad_s must be >= 0")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(silero_model_file()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.threshold = threshold
        self.neg_threshold = neg_threshold
        self.min_speech_s = min_speech_s
        self.min_silence_s = min_silence_s
        self.speech_pad_s = speech_pad_s
        self._rate = np.array(AUDIO_RATE, np.int64)
        self.reset()

    def reset(self) -> None:
        """A new stream: model state cleared, time back to 0."""
        self._state = np.zeros(STATE_SHAPE, np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)
        self._frames = 0  # frames scored so far
        self.speaking = False
        self._onset: float | None = None  # start of a speech run not yet long enough
        self._offset: float | None = None  # start of a silence run not yet long enough
        self._last_end = 0.0

    @property
    def time(self) -> float:
        """Stream seconds of audio scored so far (a partial frame waits for the next chunk)."""
        return self._frames * self.frame_s

    @property
    def quiet_since(self) -> float | None:
        """While speaking: the start of the silence that will end the speech if it lasts min_silence_s (None
        while speech goes on, and when not speaking)."""
        return self._offset if self.speaking else None

    def probability(self, frame: np.ndarray) -> float:
        """Speech probability of one 512-sample frame; advances the model state."""
        x = np.concatenate([self._context, frame])[None]  # [1, 576]
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._rate})
        self._context = frame[-CONTEXT:]
        return float(out[0, 0])

    def accept(self, samples: np.ndarray) -> VadStep:
        """Score the frames `samples` completes; events decided on them, in order."""
        audio = np.concatenate([self._pending, mono_chunk(samples, "SileroVAD")])
        n = len(audio) // FRAME
        start = self.time
        probs = np.empty(n, np.float32)
        events: list[VadEvent] = []
        for i in range(n):
            probs[i] = self.probability(audio[i * FRAME : (i + 1) * FRAME])
            frame_start = self.time
            self._frames += 1
            event = self._decide(float(probs[i]), frame_start)
            if event is not None:
                events.append(event)
        self._pending = audio[n * FRAME :].copy()
        return VadStep(start, probs, events)

    def _decide(self, p: float, frame_start: float) -> VadEvent | None:
        now = self.time
        if not self.speaking:
            if p >= self.threshold and self._onset is None:
                self._onset = frame_start
            elif p < self.neg_threshold:
                self._onset = None
            if self._onset is not None and now - self._onset >= self.min_speech_s:
                self.speaking, self._offset = True, None
                t = max(self._onset - self.speech_pad_s, self._last_end, 0.0)
                self._onset = None
                return VadEvent("start", t, now)
            return None
        if p < self.neg_threshold and self._offset is None:
            self._offset = frame_start
        elif p >= self.threshold:
            self._offset = None
        if self._offset is not None and now - self._offset >= self.min_silence_s:
            self._last_end = min(self._offset + self.speech_pad_s, now)
            self.speaking, self._offset = False, None
            return VadEvent("end", self._last_end, now)
        return None

    def flush(self) -> list[VadEvent]:
        """End of the stream: the speech still open ends at the last scored frame."""
        if not self.speaking:
            return []
        self.speaking, self._offset = False, None
        self._last_end = self.time
        return [VadEvent("end", self._last_end, self.time)]
