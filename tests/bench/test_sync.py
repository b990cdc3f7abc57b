"""The sync benchmark's reading of a recording: tone onsets, mark pairing and the figures."""

from __future__ import annotations

import numpy as np

from avatarlab.bench.sync import REFRESH_S, pair, sync_figures, tone_onsets, unwrap_refresh
from avatarlab.serve.transport import PROBE_EVERY, mark_for_sync


def test_tone_onsets_are_found_within_a_few_milliseconds_under_speech_like_noise() -> None:
    rate = 48000
    rng = np.random.default_rng(0)
    audio = 0.1 * rng.normal(size=rate * 6).astype(np.float32)  # broadband, like speech
    truth = [0.5, 1.5, 2.5, 3.5, 4.5]
    for t in truth:
        start = int(t * rate)
        audio[start : start + int(0.04 * rate)] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(int(0.04 * rate)) / rate)
    found = tone_onsets(audio, rate)
    assert len(found) == len(truth)
    assert np.max(np.abs(found - truth)) < 0.006


def test_pairing_and_drift() -> None:
    audio = np.arange(1.0, 61.0)
    video = audio + 0.010 + np.linspace(0, 0.004, len(audio))  # 10 ms late, drifting 4 ms over the minute
    times, offsets = pair(video, audio)
    figures = sync_figures(times, offsets)
    assert figures["marks"] == 60 and 13 <= figures["p95_abs_offset_ms"] <= 14.5
    assert abs(figures["drift_ms_per_min"] - 4.0 * 60 / 59) < 0.2


def test_the_probe_marks_one_tick_a_second_and_copies() -> None:
    frame = np.full((32, 32, 3), 100, np.uint8)
    audio = np.zeros(640, np.float32)
    marked, tone = mark_for_sync(PROBE_EVERY / 25.0, frame, audio)
    plain, quiet = mark_for_sync(1.0 + 1 / 25.0, frame, audio)
    assert marked[0, 0, 0] == 255 and plain[0, 0, 0] == 0 and frame[0, 0, 0] == 100  # the player's buffer untouched
    assert np.abs(tone).max() > 0.4 and not quiet.any()


def test_display_refresh_wraps_are_not_drift_but_real_drift_is() -> None:
    times = np.arange(1.0, 121.0)
    slide = -0.00004 * times  # the display's clock sliding 2.4 ms a minute against the audio clock ...
    offsets = slide - 0.008 + REFRESH_S * (times > 95)  # ... wrapping by one refresh at 95 s
    unwrapped = unwrap_refresh(offsets)
    assert np.max(np.abs(np.diff(unwrapped))) < 0.001
    assert abs(sync_figures(times, offsets)["drift_ms_per_min"] + 2.4) < 0.05
    drifting = -0.008 + 0.0001 * times  # audio falling behind 6 ms a minute: no step, all drift
    assert abs(sync_figures(times, drifting)["drift_ms_per_min"] - 6.0) < 0.05
