"""Causal prosody frames at 100 Hz: energy, pitch (librosa's YIN) and periodicity, offline or streamed.

Frame k describes the audio that ends at (k + 1) * hop samples, so every value depends only on audio
already heard. Computing a whole turn at once and pushing it 10 ms at a time give the same arrays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import librosa
import numpy as np


@dataclass(frozen=True)
class ProsodySpec:
    """Frame parameters (samples at `sample_rate`) and the speech / voicing thresholds (dB)."""

    sample_rate: int = 16000
    hop: int = 160
    pitch_window: int = 1024
    energy_window: int = 400
    fmin: float = 45.0
    fmax: float = 400.0
    floor_margin_db: float = 10.0
    peak_margin_db: float = 30.0
    periodicity_window: int = 320
    min_periodicity: float = 0.3

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def frame_values(audio: np.ndarray, first: int, count: int, spec: ProsodySpec) -> np.ndarray:
    """[count, 3] (dB, f0 Hz, periodicity) for frames first..first+count-1 of `audio`.

    Periodicity is the normalised correlation of the frame with itself one YIN period later: near 1 for
    voiced speech, low for noise, fricatives and octave slips.

    `audio` starts at sample 0 of the stream; samples before 0 count as silence.
    """
    if count <= 0:
        return np.zeros((0, 3), np.float32)
    hop, win = spec.hop, spec.pitch_window
    lo = (first + 1) * hop - win
    hi = (first + count) * hop
    pad = max(0, -lo)
    y = np.concatenate([np.zeros(pad, np.float32), audio[max(0, lo) : hi].astype(np.float32)])  # [win + (count-1)*hop]
    frames = librosa.util.frame(y, frame_length=win, hop_length=hop)[:, :count]  # [win, count]
    tail = frames[-spec.energy_window :]  # [energy_window, count]: the last 25 ms of each frame
    db = 10.0 * np.log10(np.mean(tail.astype(np.float64) ** 2, axis=0) + 1e-10)
    f0 = librosa.yin(
        y, fmin=spec.fmin, fmax=spec.fmax, sr=spec.sample_rate, frame_length=win, hop_length=hop, center=False
    )[:count]
    span = spec.periodicity_window
    period = np.clip(np.round(spec.sample_rate / np.maximum(f0, 1.0)).astype(np.int64), 1, win - span)  # [count]
    cols = np.arange(count)
    now = frames[win - span :, :]  # [span, count]: the frame's end
    before = frames[win - span - period[None, :] + np.arange(span)[:, None], cols]  # one period earlier
    num = np.sum(now * before, axis=0, dtype=np.float64)
    den = np.sqrt(np.sum(now.astype(np.float64) ** 2, axis=0) * np.sum(before.astype(np.float64) ** 2, axis=0)) + 1e-12
    periodicity = num / den
    return np.stack([db, f0, periodicity], axis=1).astype(np.float32)


class FrameTrack:
    """Growing per-frame arrays for one stream, with running statistics that look only backwards.

    Arrays (index = frame): db, f0, periodicity, peak (running max dB), floor (running min dB), speech (bool),
    voiced (bool), semitone (f0 in semitones re 100 Hz, NaN where unvoiced); running sums that make
    window statistics O(1): speech_cum, voiced_cum, semitone_sum, semitone_count, db_cum (through frame k), and
    last_speech (the latest speech frame <= k, or -1).
    """

    def __init__(self, spec: ProsodySpec | None = None) -> None:
        self.spec = spec or ProsodySpec()
        self._audio = np.zeros(0, np.float32)
        self._origin = 0  # stream sample index of self._audio[0]
        self._received = 0
        self.n = 0
        cap = 1024
        self._data: dict[str, np.ndarray] = {
            name: np.zeros(cap, np.float32) for name in ("db", "f0", "periodicity", "peak", "floor", "semitone")
        }
        self._data.update(
            {
                name: np.zeros(cap, np.float64)
                for name in ("speech_cum", "voiced_cum", "semitone_sum", "semitone_count", "db_cum")
            }
        )
        self._data["last_speech"] = np.zeros(cap, np.int64)
        self._flags = {name: np.zeros(cap, bool) for name in ("speech", "voiced")}

    def __getattr__(self, name: str) -> np.ndarray:
        data = self.__dict__.get("_data", {})
        flags = self.__dict__.get("_flags", {})
        if name in data:
            return data[name][: self.n]
        if name in flags:
            return flags[name][: self.n]
        raise AttributeError(name)

    @classmethod
    def from_audio(cls, audio: np.ndarray, spec: ProsodySpec | None = None) -> FrameTrack:
        track = cls(spec)
        track.push(audio)
        return track

    def push(self, samples: np.ndarray) -> int:
        """Append audio (float32 mono at spec.sample_rate); compute every frame now complete; return their count."""
        spec = self.spec
        self._audio = np.concatenate([self._audio, np.asarray(samples, np.float32).reshape(-1)])
        self._received += len(samples)
        total = self._received // spec.hop
        new = total - self.n
        if new <= 0:
            return 0
        base = self._origin // spec.hop  # the buffer starts on a hop boundary
        self._append(frame_values(self._audio, self.n - base, new, spec))
        keep = max(0, (self.n + 1) * spec.hop - spec.pitch_window)  # the next frame's window start
        keep -= keep % spec.hop
        if keep > self._origin:
            self._audio = self._audio[keep - self._origin :]
            self._origin = keep
        return new

    def _append(self, values: np.ndarray) -> None:
        spec = self.spec
        m = len(values)
        need = self.n + m
        if need > len(self._data["db"]):
            cap = max(need, 2 * len(self._data["db"]))
            for store in (self._data, self._flags):
                for name, arr in store.items():
                    grown = np.zeros(cap, arr.dtype)
                    grown[: self.n] = arr[: self.n]
                    store[name] = grown
        db, f0, periodicity = values[:, 0], values[:, 1], values[:, 2]
        prev_peak = self._data["peak"][self.n - 1] if self.n else -np.inf
        prev_floor = self._data["floor"][self.n - 1] if self.n else np.inf
        # Frames whose energy window reaches before the stream's start carry padding: no statistics.
        whole = (np.arange(self.n, self.n + m) + 1) * spec.hop >= spec.energy_window
        peak = np.maximum.accumulate(np.concatenate([[prev_peak], np.where(whole, db, -np.inf)]))[1:]
        floor = np.minimum.accumulate(np.concatenate([[prev_floor], np.where(whole, db, np.inf)]))[1:]
        speech = whole & (db > np.maximum(floor + spec.floor_margin_db, peak - spec.peak_margin_db))
        voiced = speech & (periodicity > spec.min_periodicity) & (f0 > spec.fmin * 1.05) & (f0 < spec.fmax * 0.95)
        semitone = np.where(voiced, 12.0 * np.log2(np.maximum(f0, 1.0) / 100.0), np.nan)

        def last(name: str, empty: float) -> float:
            return self._data[name][self.n - 1] if self.n else empty

        idx = np.arange(self.n, need)
        last_speech = np.maximum.accumulate(np.concatenate([[last("last_speech", -1)], np.where(speech, idx, -1)]))[1:]
        st = np.nan_to_num(semitone, nan=0.0)
        sl = slice(self.n, need)
        self._data["last_speech"][sl] = last_speech

        def running(name: str, values: np.ndarray) -> np.ndarray:  # summed in stream order: chunking-proof
            return np.cumsum(np.concatenate([[last(name, 0.0)], values.astype(np.float64)]))[1:]

        self._data["speech_cum"][sl] = running("speech_cum", speech)
        self._data["voiced_cum"][sl] = running("voiced_cum", voiced)
        self._data["semitone_sum"][sl] = running("semitone_sum", st)
        self._data["semitone_count"][sl] = running("semitone_count", voiced)
        self._data["db_cum"][sl] = running("db_cum", db)
        for name, arr in (
            ("db", db),
            ("f0", f0),
            ("periodicity", periodicity),
            ("peak", peak),
            ("floor", floor),
            ("semitone", semitone),
        ):
            self._data[name][sl] = arr
        self._flags["speech"][sl] = speech
        self._flags["voiced"][sl] = voiced
        self.n = need
