"""The session clock and event timeline: stamps and queries, the bound on kept events, the JSON file written
atomically and read back, concurrent stamping, and CPU time per stage."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from avatarlab.runtime.timeline import CpuMeter, Event, ManualClock, MonotonicClock, Timeline


def test_the_manual_clock_moves_only_forward_when_told() -> None:
    clock = ManualClock(1.5)
    assert clock.now() == 1.5
    assert clock.advance(0.25) == 1.75 and clock.now() == 1.75
    assert clock.set(3.0) == 3.0
    with pytest.raises(ValueError, match="forward"):
        clock.set(2.0)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-0.1)
    assert clock.now() == 3.0


def test_the_monotonic_clock_counts_from_the_session_start() -> None:
    clock = MonotonicClock()
    a = clock.now()
    time.sleep(0.01)
    b = clock.now()
    assert 0 <= a < b < 5
    assert clock.at(time.monotonic()) >= b
    assert clock.at(clock.origin) == 0.0


def test_stamps_take_the_clock_time_and_queries_find_them() -> None:
    clock = ManualClock(0.0)
    timeline = Timeline(clock, max_events=100)
    timeline.stamp("vad", "speech_start")
    clock.advance(1.0)
    timeline.stamp("asr", "word", text="hello", stage="not the stage")  # data may use any key
    clock.advance(0.5)
    timeline.stamp("vad", "speech_end")
    timeline.stamp_at(1.2, "asr", "word", text="there")  # known after it happened
    clock.advance(0.3)
    timeline.stamp("llm", "first_token")

    assert [e.t for e in timeline.events()] == [0.0, 1.0, 1.2, 1.5, 1.8]  # in time order
    assert [e.data["text"] for e in timeline.events("asr", "word")] == ["hello", "there"]
    assert timeline.events(stage="asr")[0].data["stage"] == "not the stage"
    end = timeline.first("speech_end", after=0.0)
    assert end is not None and end.stage == "vad" and end.t == 1.5
    first_token = timeline.first("first_token", after=end.t)
    assert first_token is not None and first_token.t - end.t == pytest.approx(0.3)
    assert timeline.first("first_token", after=2.0) is None
    assert timeline.first("word", after=1.1).data["text"] == "there"
    last = timeline.last("word", before=1.1)
    assert last is not None and last.data["text"] == "hello"
    assert timeline.events(since=1.0, until=1.5, kind="word") == timeline.events("asr")
    assert timeline.stages() == ["vad", "asr", "llm"]
    with pytest.raises(ValueError, match="finite"):
        timeline.stamp_at(float("nan"), "vad", "speech_start")


def test_spans_pair_starts_and_ends_per_stage() -> None:
    timeline = Timeline(ManualClock(0.0), max_events=100)
    for t, stage, kind, data in [
        (0.0, "tts", "start", {"phrase": 1}),
        (0.1, "llm", "start", {"reply": 7}),
        (0.2, "tts", "start", {"phrase": 2}),
        (0.3, "tts", "end", {"phrase": 2}),
        (0.4, "tts", "end", {"phrase": 1}),
        (0.5, "llm", "end", {"reply": 7}),
        (0.6, "llm", "start", {"reply": 8}),
        (0.7, "tts", "end", {"phrase": 9}),  # nothing left to close
    ]:
        timeline.stamp_at(t, stage, kind, **data)

    fifo = timeline.spans("start", "end", stage="tts")
    assert [(s.start.t, s.end.t if s.end else None) for s in fifo] == [(0.0, 0.3), (0.2, 0.4)]
    keyed = timeline.spans("start", "end", stage="tts", key="phrase")
    assert [(s.start.data["phrase"], s.duration) for s in keyed] == [(1, pytest.approx(0.4)), (2, pytest.approx(0.1))]
    llm = timeline.spans("start", "end", stage="llm", key="reply")
    assert [(s.start.data["reply"], s.end is not None) for s in llm] == [(7, True), (8, False)]
    assert llm[1].duration is None
    every = timeline.spans("start", "end")
    assert [s.stage for s in every] == ["tts", "llm", "tts", "llm"]


def test_the_timeline_keeps_the_newest_events_and_counts_the_dropped() -> None:
    clock = ManualClock(0.0)
    timeline = Timeline(clock, max_events=5)
    for i in range(12):
        timeline.stamp("asr", "word", i=i)
        clock.advance(0.1)
    assert len(timeline) == 5 and timeline.total == 12 and timeline.dropped == 7
    assert [e.data["i"] for e in timeline.events()] == [7, 8, 9, 10, 11]
    with pytest.raises(ValueError, match="max_events"):
        Timeline(clock, max_events=0)


def test_the_json_file_round_trips(tmp_path: Path) -> None:
    clock = ManualClock(0.0)
    timeline = Timeline(clock, max_events=4)
    for i in range(6):
        timeline.stamp("tts", "phrase", i=i, words=["a", "b"], level=np.float32(0.5), shape=np.arange(2))
        clock.advance(0.04)
    path = timeline.save(tmp_path / "run" / "timeline.json", meta={"script": "demo.yaml"})

    record = json.loads(path.read_text())
    assert record["format"] == "avatarlab.timeline" and record["total"] == 6 and record["dropped"] == 2
    assert record["events"][0]["data"] == {"i": 2, "words": ["a", "b"], "level": 0.5, "shape": [0, 1]}
    loaded, meta = Timeline.load(path)
    assert meta == {"script": "demo.yaml"}
    assert loaded.total == 6 and loaded.dropped == 2 and loaded.max_events == 4
    assert [(e.t, e.stage, e.kind, e.data["i"]) for e in loaded.events()] == [
        (e.t, e.stage, e.kind, e.data["i"]) for e in timeline.events()
    ]
    assert loaded.clock.now() == timeline.events()[-1].t
    assert [p.name for p in path.parent.iterdir()] == ["timeline.json"]  # no temporary file left


def test_a_failed_save_leaves_the_previous_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    timeline = Timeline(ManualClock(0.0), max_events=10)
    timeline.stamp("vad", "speech_start")
    path = timeline.save(tmp_path / "timeline.json")
    before = path.read_text()
    timeline.stamp("asr", "word", text="hello")

    def crash(*args: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr("avatarlab.atomic.os.replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        timeline.save(path)
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["timeline.json"]


def test_values_json_cannot_hold_are_made_plain(tmp_path: Path) -> None:
    timeline = Timeline(ManualClock(0.0), max_events=10)
    timeline.stamp("turn", "tick", p_end=float("nan"), scores=np.array([0.5, np.inf]), where=tmp_path, ids={3})
    loaded, _ = Timeline.load(timeline.save(tmp_path / "timeline.json"))
    assert loaded.events()[0].data == {"p_end": None, "scores": [0.5, None], "where": str(tmp_path), "ids": [3]}


def test_loading_refuses_other_files(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"events": []}))
    with pytest.raises(ValueError, match="not an avatarlab.timeline"):
        Timeline.load(other)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format": "avatarlab.timeline", "version": 99, "events": []}))
    with pytest.raises(ValueError, match="version 99"):
        Timeline.load(newer)


def test_stamping_from_several_threads_loses_nothing() -> None:
    timeline = Timeline(MonotonicClock(), max_events=1000)
    per_thread, stages = 3000, ["vad", "asr", "llm", "tts"]
    errors: list[BaseException] = []

    def stamp(stage: str) -> None:
        try:
            for i in range(per_thread):
                timeline.stamp(stage, "tick", i=i)
        except BaseException as error:
            errors.append(error)

    def read() -> None:
        try:
            for _ in range(50):
                timeline.events(kind="tick")
                timeline.spans("tick", "tock")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=stamp, args=(s,)) for s in stages] + [threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert timeline.total == per_thread * len(stages) and len(timeline) == 1000
    assert timeline.dropped == per_thread * len(stages) - 1000
    for stage in stages:  # each thread's kept events are its last ones, in order
        kept = [e.data["i"] for e in timeline.events(stage) if e.stage == stage]
        assert kept == sorted(kept) and (not kept or kept[-1] == per_thread - 1)


def busy(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_cpu_time_is_counted_per_stage_on_its_own_thread() -> None:
    meter = CpuMeter()
    with meter.measure("asr"):
        busy(0.03)
    with meter.measure("asr"):
        time.sleep(0.05)  # waiting is not CPU time
    assert 0.03 <= meter.seconds("asr") < 0.07

    def work() -> None:
        with meter.measure("tts"):
            busy(0.02)

    thread = threading.Thread(target=work)
    thread.start()
    with meter.measure("llm"):
        time.sleep(0.01)
    thread.join()
    totals = meter.totals()
    assert totals["asr"]["calls"] == 2 and totals["tts"]["calls"] == 1
    assert totals["tts"]["cpu_s"] >= 0.02 and totals["llm"]["cpu_s"] < 0.01
    assert meter.seconds("avatar") == 0.0

    timeline = Timeline(ManualClock(2.0), max_events=10)
    event = meter.stamp(timeline)
    assert isinstance(event, Event) and (event.t, event.stage, event.kind) == (2.0, "process", "cpu")
    assert event.data["stages"] == totals
