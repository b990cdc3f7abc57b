"""The reply track: phrases appended in place, views read back, silence padding, closing, waiting across threads."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from avatarlab.runtime.reply_track import ReplyTrack, TrackFull, TrackPhrase
from avatarlab.runtime.tts import SpokenWord

RATE = 16000


def tone(samples: int, level: float) -> np.ndarray:
    """A non-zero phrase whose samples say where they came from."""
    return np.full(samples, level, np.float32) + np.linspace(0, 0.01, samples, dtype=np.float32)


def test_append_places_phrases_one_after_the_other() -> None:
    track = ReplyTrack(reply=7, max_s=1.0)
    assert track.capacity == RATE and track.length == 0 and not track.closed
    words = [SpokenWord("hello", 0.0, 0.1)]
    first = track.append("hello", tone(1600, 0.5), words)
    second = track.append("there you go", tone(800, -0.25), ())
    assert first == TrackPhrase("hello", (SpokenWord("hello", 0.0, 0.1),), 0, 1600)
    assert (second.offset, second.samples, second.text) == (1600, 800, "there you go")
    assert track.phrases == [first, second]
    assert track.length == 2400
    np.testing.assert_array_equal(track.read(0, 2400)[:1600], tone(1600, 0.5))
    np.testing.assert_array_equal(track.read(1600, 800), tone(800, -0.25))


def test_read_is_a_view_limited_to_what_was_appended() -> None:
    track = ReplyTrack(reply=1, max_s=0.5)
    track.append("a", tone(1000, 0.3), [])
    part = track.read(200, 500)
    assert len(part) == 500 and np.shares_memory(part, track._audio)
    assert len(track.read(800, 500)) == 200  # stops at the end of what was appended
    assert len(track.read(1000, 500)) == 0 and len(track.read(5000, 10)) == 0
    track.append("b", tone(300, 0.9), [])
    assert len(part) == 500 and part[0] == pytest.approx(tone(1000, 0.3)[200])  # a view: old reads stay valid
    assert len(track.read(800, 500)) == 500


def test_pad_to_adds_silence_and_counts_it() -> None:
    track = ReplyTrack(reply=2, max_s=0.25)  # 4000 samples
    track.append("a", tone(1000, 0.4), [])
    assert track.pad_to(1600) == 600
    assert track.length == 1600 and track.padded == 600
    np.testing.assert_array_equal(track.read(1000, 600), np.zeros(600, np.float32))
    assert track.pad_to(1200) == 0 and track.length == 1600 and track.padded == 600  # never shortens
    later = track.append("b", tone(500, 0.2), [])
    assert later.offset == 1600  # the next phrase plays after the silence
    assert track.pad_to(10_000) == 4000 - 2100 and track.length == track.capacity  # never beyond the buffer
    assert track.padded == 600 + 1900


def test_a_phrase_that_does_not_fit_is_refused_and_leaves_the_track_as_it_was() -> None:
    track = ReplyTrack(reply=3, max_s=0.1)  # 1600 samples
    track.append("a", tone(1000, 0.4), [])
    with pytest.raises(TrackFull, match="reply 3"):
        track.append("b", tone(601, 0.2), [])
    assert track.length == 1000 and len(track.phrases) == 1
    assert track.append("c", tone(600, 0.2), []).offset == 1000  # exactly full is fine
    with pytest.raises(TrackFull):
        track.append("d", tone(1, 0.2), [])


def test_append_after_close_raises_and_finished_at_needs_both() -> None:
    track = ReplyTrack(reply=4, max_s=1.0)
    track.append("a", tone(800, 0.4), [])
    assert not track.finished_at(800) and not track.finished_at(5000)  # open: more may come
    track.close()
    assert track.closed
    with pytest.raises(RuntimeError, match="closed"):
        track.append("b", tone(100, 0.1), [])
    assert track.length == 800
    assert not track.finished_at(799)
    assert track.finished_at(800) and track.finished_at(801)


def test_bad_length_is_refused() -> None:
    for max_s in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="max_s"):
            ReplyTrack(reply=0, max_s=max_s)


def test_wait_wakes_when_another_thread_appends_and_times_out_otherwise() -> None:
    track = ReplyTrack(reply=5, max_s=1.0)
    started = time.monotonic()
    assert track.wait(0, timeout=0.05) is False
    assert time.monotonic() - started >= 0.04

    def later() -> None:
        time.sleep(0.05)
        track.append("a", tone(320, 0.5), [])

    writer = threading.Thread(target=later)
    writer.start()
    started = time.monotonic()
    assert track.wait(0, timeout=5.0) is True
    assert time.monotonic() - started < 2.0
    writer.join()
    assert track.length == 320
    assert track.wait(320, timeout=0.02) is False  # nothing beyond what is there
    assert track.wait(100, timeout=0.0) is True

    closer = threading.Timer(0.05, track.close)
    closer.start()
    assert track.wait(320, timeout=5.0) is True  # closing ends the wait too
    closer.join()
