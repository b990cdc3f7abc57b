"""Predictor features: per word (prosody and lexical cues of the newest word), per 10 ms tick (pause,
silence, voice activity), and per (reference prefix, current prefix) pair (what the later words add).

Every function here serves both the live predictor and the offline training tables, so the two see
identical numbers. Times are seconds from the turn's start; frame k of a FrameTrack ends at (k+1)/100 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import median_filter

from avatarlab.spec.stream import TICK_RATE
from avatarlab.turn.format import Word
from avatarlab.turn.lexical import N_CATEGORIES, N_LATE, categories, syllables
from avatarlab.turn.prosody import FrameTrack, ProsodySpec

FEATURE_VERSION = 5

WORD_NAMES = (
    (
        "log_words",
        "rate",
        "duration",
        "duration_per_syllable",
        "lengthening",
        "gap_before",
        "pauses_so_far",
        "f0_slope_end",
        "f0_end",
        "f0_word",
        "f0_range",
        "f0_rise_end",
        "f0_fall",
        "f0_min_position",
        "voiced_fraction",
        "has_f0",
        "db_word",
        "db_end",
        "db_slope",
        "question_start",
    )
    + tuple(f"contour_f0_{i}" for i in range(10))
    + tuple(f"contour_db_{i}" for i in range(10))
    + tuple(f"last_{i}" for i in range(N_CATEGORIES))
    + tuple(f"prev_{i}" for i in range(N_CATEGORIES))
)
N_PROSODY = 40  # word features before the lexical categories
TICK_NAMES = ("pause", "pause_sqrt", "silence", "silence_sqrt", "speech_10", "speech_30", "voiced_10", "db_now")
PAIR_NAMES = (
    ("same", "words_after", "cosine")
    + tuple(f"late_{i}" for i in range(N_LATE))
    + tuple(f"first_after_{i}" for i in range(N_LATE))
)
WORD_DIM, TICK_DIM, PAIR_DIM = len(WORD_NAMES), len(TICK_NAMES), len(PAIR_NAMES)
CONT_DIM = 384  # the words after the reference prefix, as mean static word-piece vectors
MAX_PAUSE_S = 3.0


@dataclass(frozen=True)
class FeatureSpec:
    """Everything that fixes the feature values; travels with a trained model into its bundle."""

    window_words: int  # the embedder sees the last N words of the prefix (set by the data config)
    quantize_embedder: bool
    prosody: ProsodySpec = field(default_factory=ProsodySpec)
    version: int = FEATURE_VERSION

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            word_names=list(WORD_NAMES),
            tick_names=list(TICK_NAMES),
            pair_names=list(PAIR_NAMES),
            embedding_dim=384,
            continuation={"kind": "mean static word pieces", "dim": CONT_DIM},
        )
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        if data.get("version") != FEATURE_VERSION:
            raise ValueError(f"feature version {data.get('version')} is not {FEATURE_VERSION}")
        return cls(
            prosody=ProsodySpec(**data["prosody"]),
            window_words=int(data["window_words"]),
            quantize_embedder=bool(data["quantize_embedder"]),
        )


def frames_through(t: float) -> int:
    """How many frames have ended by time t (frame k ends at (k+1)/100 s)."""
    return int(np.floor(t * TICK_RATE + 1e-6))


def arrival_step(end: float, delay_s: float = 0.0) -> int:
    """The first 10 ms tick at which a word that ends at `end` is known."""
    return int(np.ceil((end + delay_s) * TICK_RATE - 1e-6))


def _slope(y: np.ndarray, x: np.ndarray) -> float:
    if len(y) < 3:
        return 0.0
    x = x - x.mean()
    denom = float((x * x).sum())
    return float((x * (y - y.mean())).sum() / denom) if denom > 0 else 0.0


def word_features(track: FrameTrack, words: Sequence[Word], tokens: Sequence[str], i: int) -> np.ndarray:
    """[WORD_DIM] for the prefix that ends with word i, from the audio up to that word's end."""
    w = words[i]
    first = max(0, frames_through(w.start))
    last = min(track.n, frames_through(w.end))  # frames first..last-1 lie inside the word
    f = np.zeros(WORD_DIM, np.float32)
    k = i + 1
    duration = max(0.0, w.end - w.start)
    per_syl = duration / syllables(tokens[i])
    earlier = [(words[j].end - words[j].start) / syllables(tokens[j]) for j in range(i)]
    gaps = [words[j + 1].start - words[j].end for j in range(i)]
    f[0] = np.log1p(k) / 3.0
    f[1] = min(k / max(0.5, w.end - words[0].start), 8.0) / 4.0
    f[2] = min(duration, 2.0)
    f[3] = min(per_syl / 0.25, 4.0)
    f[4] = min(per_syl / np.mean(earlier), 4.0) if earlier and np.mean(earlier) > 0 else 1.0
    f[5] = min(max(gaps[-1], 0.0), 2.0) if gaps else 0.0
    f[6] = min(sum(g > 0.15 for g in gaps), 6) / 3.0
    if last > first and track.n:
        end_frame = last - 1
        peak = float(track.peak[end_frame]) if np.isfinite(track.peak[end_frame]) else 0.0
        count = float(track.semitone_count[end_frame])
        speaker = float(track.semitone_sum[end_frame]) / count if count > 0 else 0.0
        voiced = track.voiced[first:last]
        times = np.arange(first, last, dtype=np.float64) / TICK_RATE
        if voiced.sum() >= 3:
            # semitones of the voiced frames: drop YIN's octave slips (far from the word's median), smooth
            raw = track.semitone[first:last][voiced].astype(np.float64)
            ok = np.abs(raw - np.median(raw)) <= 7.0
            st = median_filter(raw[ok], size=5, mode="nearest") if ok.sum() >= 3 else raw
            tv = times[voiced][ok] if ok.sum() >= 3 else times[voiced]
            end = float(np.mean(st[-4:]))
            low = int(np.argmin(st))
            tail = tv >= tv[-1] - 0.15
            f[7] = np.clip(_slope(st[tail], tv[tail]) / 30.0, -2, 2)
            f[8] = np.clip((end - speaker) / 6.0, -3, 3)
            f[9] = np.clip((np.mean(st) - speaker) / 6.0, -3, 3)
            f[10] = min((np.max(st) - np.min(st)) / 12.0, 3.0)
            f[11] = min((end - st[low]) / 6.0, 3.0)
            f[12] = min((np.max(st[: low + 1]) - st[low]) / 6.0, 3.0)
            f[13] = low / max(1, len(st) - 1)
            f[15] = 1.0
        voiced_at = np.flatnonzero(voiced)
        anchor = first + int(voiced_at[-1]) + 1 if len(voiced_at) else last  # the word's last voiced frame
        f[20:40] = _contour(track, anchor, speaker, peak)
        f[14] = float(voiced.mean())
        db = track.db[first:last].astype(np.float64)
        f[16] = np.clip((db.mean() - peak) / 20.0, -4, 1)
        f[17] = np.clip((db[-5:].mean() - peak) / 20.0, -4, 1)
        f[18] = np.clip(_slope(db, times) / 100.0, -3, 3)
    f[19] = float(_question_start(tokens[:k]))
    f[N_PROSODY : N_PROSODY + N_CATEGORIES] = categories(tokens[i])
    if i > 0:
        f[N_PROSODY + N_CATEGORIES :] = categories(tokens[i - 1])
    return f


def _contour(
    track: FrameTrack, last: int, speaker: float, peak: float, frames: int = 30, points: int = 10
) -> np.ndarray:
    """[2 * points]: pitch (semitones re the speaker's mean, /6) and level (dB re peak, /20) over the
    `frames` before frame `last` (the newest word's last voiced frame, so that a final voiceless
    consonant does not hide the pitch movement), averaged in `points` groups; pitch gaps are filled from
    neighbours."""
    lo = max(0, last - frames)
    st = track.semitone[lo:last].astype(np.float64)
    voiced = track.voiced[lo:last]
    db = track.db[lo:last].astype(np.float64)
    if len(st) < frames:  # the stream is younger than the window: pad at its start
        pad = frames - len(st)
        st, voiced, db = (
            np.r_[np.full(pad, np.nan), st],
            np.r_[np.zeros(pad, bool), voiced],
            np.r_[np.full(pad, db[0] if len(db) else peak - 80), db],
        )
    pitch = np.where(voiced, st, np.nan)
    good = np.isfinite(pitch)
    if good.sum() >= 3:
        median = np.median(pitch[good])
        good &= np.abs(pitch - median) <= 7.0
    if good.sum() >= 1:
        idx = np.arange(frames)
        pitch = np.interp(idx, idx[good], pitch[good])  # fill gaps (and ends) from the nearest voiced frames
        pitch = np.clip((pitch - speaker) / 6.0, -3, 3)
    else:
        pitch = np.zeros(frames)
    level = np.clip((db - peak) / 20.0, -4, 1)
    group = frames // points
    return np.r_[pitch.reshape(points, group).mean(axis=1), level.reshape(points, group).mean(axis=1)].astype(
        np.float32
    )  # [2 * points]


_OPENING = frozenset({"so", "well", "um", "uh", "okay", "hey", "oh", "alright", "listen", "you", "know", "what"})
_QUESTION_WORDS = frozenset(
    {
        "what",
        "who",
        "when",
        "where",
        "why",
        "how",
        "which",
        "is",
        "are",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "will",
        "should",
        "shall",
        "may",
        "have",
        "has",
        "was",
        "were",
    }
)


def _question_start(tokens: Sequence[str]) -> bool:
    """Does the turn open like a question (after any opener words)?"""
    for token in tokens[:4]:
        if token in _QUESTION_WORDS and token not in ("what",):
            return True
        if token == "what":
            return True
        if token not in _OPENING:
            return False
    return False


def tick_features(track: FrameTrack, steps: np.ndarray, last_word_end: np.ndarray) -> np.ndarray:
    """[len(steps), TICK_DIM] at ticks `steps` (t = step / 100 s), each using frames that ended by then.

    last_word_end: the end of the newest known word at each tick (NaN: none yet).
    """
    steps = np.asarray(steps, np.int64)
    t = steps / TICK_RATE
    n = np.clip(steps, 0, track.n)  # frames available at each tick
    idx = np.maximum(n - 1, 0)
    has = n > 0
    pause = np.where(np.isnan(last_word_end), t, t - np.nan_to_num(last_word_end))
    pause = np.clip(pause, 0.0, MAX_PAUSE_S)
    last_speech = np.where(has, track.last_speech[idx] if track.n else -1, -1)
    silence = np.where(last_speech >= 0, n - (last_speech + 1), n) / TICK_RATE
    silence = np.clip(silence, 0.0, MAX_PAUSE_S)

    def window_mean(cum: np.ndarray, width: int) -> np.ndarray:
        if not track.n:
            return np.zeros(len(steps))
        hi = np.where(has, cum[idx], 0.0)
        lo_idx = n - 1 - width
        lo = np.where(lo_idx >= 0, cum[np.maximum(lo_idx, 0)], 0.0)
        return (hi - lo) / width

    out = np.zeros((len(steps), TICK_DIM), np.float32)
    out[:, 0] = pause
    out[:, 1] = np.sqrt(pause)
    out[:, 2] = silence
    out[:, 3] = np.sqrt(silence)
    out[:, 4] = window_mean(track.speech_cum, 10)
    out[:, 5] = window_mean(track.speech_cum, 30)
    out[:, 6] = window_mean(track.voiced_cum, 10)
    peak = np.where(has, track.peak[idx], 0.0) if track.n else np.zeros(len(steps))
    peak = np.where(np.isfinite(peak), peak, 0.0)
    recent = window_mean(track.db_cum, 5) * 5 / np.maximum(np.minimum(n, 5), 1)
    out[:, 7] = np.where(has, np.clip((recent - peak) / 20.0, -4, 1), -4.0)
    return out


def pair_features(
    ref: np.ndarray,
    cur: np.ndarray,
    emb_ref: np.ndarray,
    emb_cur: np.ndarray,
    cum_cues_ref: np.ndarray,
    cum_cues_cur: np.ndarray,
    first_after_cues: np.ndarray,
) -> np.ndarray:
    """[B, PAIR_DIM] for reference prefixes of `ref` words and current prefixes of `cur` words (ref <= cur).

    cum_cues_*: [B, N_LATE] late-cue counts in each prefix; first_after_cues: [B, N_LATE] the cues of
    word `ref` (the first word after the reference prefix; zeros when ref == cur).
    """
    ref = np.asarray(ref, np.float32)
    cur = np.asarray(cur, np.float32)
    out = np.zeros((len(ref), PAIR_DIM), np.float32)
    out[:, 0] = ref == cur
    out[:, 1] = np.log1p(np.maximum(cur - ref, 0)) / 2.0
    out[:, 2] = np.sum(emb_ref * emb_cur, axis=1)
    out[:, 3 : 3 + N_LATE] = np.minimum(cum_cues_cur - cum_cues_ref, 2.0) / 2.0
    out[:, 3 + N_LATE :] = first_after_cues
    return out


def continuation_vectors(
    sum_ref: np.ndarray, sum_cur: np.ndarray, count_ref: np.ndarray, count_cur: np.ndarray
) -> np.ndarray:
    """[B, CONT_DIM]: the mean word-piece vector of the words after the reference prefix (zeros if none).

    sum_* [B, CONT_DIM] and count_* [B] are cumulative over the first ref / cur words."""
    count = np.asarray(count_cur, np.float32) - np.asarray(count_ref, np.float32)
    return ((sum_cur - sum_ref) / np.maximum(count, 1.0)[:, None]).astype(np.float32)
