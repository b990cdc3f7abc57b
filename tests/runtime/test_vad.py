"""The streaming VAD against the real silero model: event times on speech with known silences, silence,
chunking, a real recording (checked against faster-whisper's own offline silero pass), bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avatarlab.config_args import config_args, from_config
from avatarlab.data.speech import synthesize
from avatarlab.runtime.vad import SileroVAD, VadEvent

RATE = 16000
CONFIG = "serve/vad/silero.yaml"
TOLERANCE_S = 0.15  # measured: every start/end within 0.11 s of the true edge (espeak, 100 ms chunks)


@pytest.fixture(scope="module")
def vad() -> SileroVAD:
    return from_config(CONFIG)


def trimmed(text: str) -> np.ndarray:
    """espeak speech without its own leading and trailing silence."""
    audio = synthesize(text, rate=RATE)
    loud = np.nonzero(np.abs(audio) > 0.01)[0]
    return audio[loud[0] : loud[-1] + 1]


@pytest.fixture(scope="module")
def two_phrases() -> tuple[np.ndarray, list[tuple[str, float]]]:
    """1 s silence, a phrase, 1.5 s silence, a phrase, 1 s silence; and the true edges."""
    a, b = trimmed("Hello there, how are you doing today?"), trimmed("I was thinking about going to the park.")
    gap = lambda s: np.zeros(int(s * RATE), np.float32)  # noqa: E731
    audio = np.concatenate([gap(1.0), a, gap(1.5), b, gap(1.0)])
    t_a, t_b = len(a) / RATE, len(b) / RATE
    truth = [("start", 1.0), ("end", 1.0 + t_a), ("start", 2.5 + t_a), ("end", 2.5 + t_a + t_b)]
    return audio, truth


def run(vad: SileroVAD, audio: np.ndarray, sizes: list[int]) -> tuple[list[VadEvent], np.ndarray]:
    """Feed `audio` in chunks of the given sizes (cycled); all events and frame probabilities."""
    vad.reset()
    events, probs, i, k = [], [], 0, 0
    while i < len(audio):
        step = vad.accept(audio[i : i + sizes[k % len(sizes)]])
        assert step.start == pytest.approx(sum(len(p) for p in probs) * vad.frame_s)
        events += step.events
        probs.append(step.probs)
        i, k = i + sizes[k % len(sizes)], k + 1
    return events + vad.flush(), np.concatenate(probs)


def test_the_config_sets_every_argument() -> None:
    assert set(config_args(CONFIG)) == {"threshold", "neg_threshold", "min_speech_s", "min_silence_s", "speech_pad_s"}


def test_speech_start_and_end_near_the_true_edges(vad: SileroVAD, two_phrases) -> None:  # type: ignore[no-untyped-def]
    audio, truth = two_phrases
    events, probs = run(vad, audio, [1600])
    assert [e.kind for e in events] == [kind for kind, _ in truth]
    for event, (_, t) in zip(events, truth):
        assert abs(event.t - t) < TOLERANCE_S, (event, t)
        assert event.t <= event.decided_at <= t + vad.min_silence_s + vad.min_speech_s + TOLERANCE_S
    assert len(probs) == len(audio) // 512 and probs.dtype == np.float32
    assert probs[: int(0.9 / vad.frame_s)].max() < vad.neg_threshold  # the leading silence
    assert np.median(probs[int(1.2 / vad.frame_s) : int((truth[1][1] - 0.2) / vad.frame_s)]) > vad.threshold


def test_quiet_since_marks_the_wait_for_an_end(vad: SileroVAD, two_phrases) -> None:  # type: ignore[no-untyped-def]
    audio, truth = two_phrases
    vad.reset()
    quiet: list[tuple[float, float | None]] = []  # (stream time, quiet_since) after each 10 ms chunk
    for i in range(0, len(audio), 160):
        vad.accept(audio[i : i + 160])
        quiet.append((vad.time, vad.quiet_since))
    first_end = truth[1][1]
    waiting = [since for t, since in quiet if first_end < t < first_end + vad.min_silence_s and since is not None]
    assert waiting and all(abs(since - first_end) < TOLERANCE_S for since in waiting)  # the silence's start
    # a quiet run inside speech (between words) is shorter than min_silence_s, or it would have ended the speech
    assert all(t - since <= vad.min_silence_s + vad.frame_s for t, since in quiet if since is not None)
    assert all(since is None for t, since in quiet if first_end + 0.5 < t < truth[2][1])  # none once it ended


def test_chunk_sizes_do_not_change_anything(vad: SileroVAD, two_phrases) -> None:  # type: ignore[no-untyped-def]
    audio, _ = two_phrases
    events, probs = run(vad, audio, [1600])
    odd_events, odd_probs = run(vad, audio, [1, 511, 4000, 37, 513, 9000])
    assert odd_events == events
    np.testing.assert_allclose(odd_probs, probs, atol=1e-6)


def test_silence_and_faint_noise_give_no_events(vad: SileroVAD) -> None:
    noise = (np.random.default_rng(0).standard_normal(3 * RATE) * 0.003).astype(np.float32)
    for audio in (np.zeros(3 * RATE, np.float32), noise):
        events, probs = run(vad, audio, [1600])
        assert events == [] and probs.max() < vad.threshold


def test_a_real_recording_matches_faster_whispers_offline_silero(vad: SileroVAD, shared_data: Path) -> None:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    audio, rate = sf.read(shared_data / "speech_english_60s.wav", dtype="float32")
    events, _ = run(vad, audio, [1600])
    assert [e.kind for e in events] == ["start", "end"] * (len(events) // 2) and len(events) >= 4
    times = [e.t for e in events]
    assert times == sorted(times) and 0 <= times[0] and times[-1] <= len(audio) / rate
    ours = np.zeros(len(audio), bool)
    for start, end in zip(times[::2], times[1::2]):
        ours[int(start * rate) : int(end * rate)] = True
    options = VadOptions(
        threshold=vad.threshold,
        neg_threshold=vad.neg_threshold,
        min_speech_duration_ms=int(vad.min_speech_s * 1000),
        min_silence_duration_ms=int(vad.min_silence_s * 1000),
        speech_pad_ms=int(vad.speech_pad_s * 1000),
    )
    theirs = np.zeros(len(audio), bool)
    for segment in get_speech_timestamps(audio, options):
        theirs[segment["start"] : segment["end"]] = True
    iou = (ours & theirs).sum() / (ours | theirs).sum()
    assert iou > 0.9, iou  # measured 0.98: the same model family, an offline pass with its own rules


def test_bad_input_is_refused_clearly(vad: SileroVAD) -> None:
    with pytest.raises(ValueError, match="mono"):
        vad.accept(np.zeros((1600, 2), np.float32))
    with pytest.raises(ValueError, match="float32"):
        vad.accept(np.zeros(1600, np.int16))
    with pytest.raises(ValueError, match="NaN"):
        vad.accept(np.full(1600, np.nan, np.float32))
    with pytest.raises(ValueError, match="neg_threshold"):
        SileroVAD(**config_args(CONFIG, neg_threshold=0.7))
