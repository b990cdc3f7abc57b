"""Prosody frames: causal, the same streamed or offline, and right on simple signals."""

from __future__ import annotations

import numpy as np

from avatarlab.turn.prosody import FrameTrack, ProsodySpec

RATE = 16000


def _tone_then_silence(f0: float = 150.0, tone_s: float = 0.6, silence_s: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(tone_s * RATE)) / RATE
    voiced = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.1 * np.sin(2 * np.pi * 2 * f0 * t)
    audio = np.concatenate([np.zeros(int(0.2 * RATE)), voiced, np.zeros(int(silence_s * RATE))])
    return (audio + 1e-3 * rng.standard_normal(len(audio))).astype(np.float32)


def test_streamed_equals_offline_for_any_chunking() -> None:
    audio = _tone_then_silence()
    offline = FrameTrack.from_audio(audio)
    streamed = FrameTrack()
    rng = np.random.default_rng(1)
    i = 0
    while i < len(audio):
        n = int(rng.integers(1, 1200))
        streamed.push(audio[i : i + n])
        i += n
    assert streamed.n == offline.n == len(audio) // 160
    for name in (
        "db",
        "f0",
        "periodicity",
        "peak",
        "floor",
        "semitone",
        "speech_cum",
        "voiced_cum",
        "semitone_sum",
        "db_cum",
        "last_speech",
    ):
        np.testing.assert_allclose(
            getattr(streamed, name), getattr(offline, name), rtol=0, atol=0, equal_nan=True, err_msg=name
        )
    assert np.array_equal(streamed.speech, offline.speech) and np.array_equal(streamed.voiced, offline.voiced)


def test_frames_only_look_back() -> None:
    audio = _tone_then_silence()
    full = FrameTrack.from_audio(audio)
    cut = FrameTrack.from_audio(audio[: 50 * 160])  # the first 0.5 s only
    np.testing.assert_allclose(cut.f0, full.f0[: cut.n])
    np.testing.assert_allclose(cut.db, full.db[: cut.n])


def test_pitch_speech_and_silence_on_a_tone() -> None:
    track = FrameTrack.from_audio(_tone_then_silence(f0=150.0))
    tone = slice(30, 75)  # frames well inside the tone (it spans 0.2 s .. 0.8 s)
    assert track.speech[tone].all() and track.voiced[tone].all()
    assert abs(np.median(track.f0[tone]) - 150.0) < 3.0
    assert not track.speech[90:].any()  # 0.1 s after the tone stops
    assert track.last_speech[-1] < 85


def test_spec_round_trip() -> None:
    spec = ProsodySpec(fmin=50.0)
    assert ProsodySpec(**spec.to_dict()) == spec
