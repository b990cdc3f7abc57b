"""One clock and one event timeline for every stage of a session, and each stage's CPU time.

Every stage reads the session's `Clock` (seconds since the session started) and stamps what it does on the
`Timeline`: `timeline.stamp("asr", "word", text="hello")`. Tests and the benchmark read the timeline back
(`first`, `spans`, `events`) or from its JSON file. `MonotonicClock` is the live clock; `ManualClock` moves
only when told (tests, and simulate mode, where the output sink drives it). The timeline keeps the last
`max_events` events: older ones are dropped and counted, so a long session holds bounded memory.

`CpuMeter` adds up `time.thread_time()` per stage: CPU time of the thread doing the stage's work, measured
around that work on that thread (`with meter.measure("tts"): ...`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from avatarlab.atomic import atomic_path

FORMAT = "avatarlab.timeline"
VERSION = 1


class Clock(Protocol):
    """Seconds since the session started."""

    def now(self) -> float: ...


class MonotonicClock:
    """The live clock: `time.monotonic()` less its value when the clock was made."""

    def __init__(self) -> None:
        self.origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.origin

    def at(self, monotonic: float) -> float:
        """Session seconds of a `time.monotonic()` stamp (such as a Generation's first_piece_at)."""
        return monotonic - self.origin


class ManualClock:
    """A clock that moves only when told (thread-safe); it never goes back."""

    def __init__(self, start: float) -> None:
        self._t = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def advance(self, seconds: float) -> float:
        """Move on by `seconds` (>= 0); the new time."""
        if not seconds >= 0:
            raise ValueError(f"a clock moves forward: advance by {seconds}")
        with self._lock:
            self._t += seconds
            return self._t

    def set(self, t: float) -> float:
        """Move to `t`, which must not be before now (an output sink reporting its playback position)."""
        with self._lock:
            if not t >= self._t:
                raise ValueError(f"a clock moves forward: {t} is before {self._t}")
            self._t = float(t)
            return self._t


@dataclass(frozen=True)
class Event:
    """Something a stage did at session time `t`: kind names it ("start", "word", "first_token"); data is
    JSON-able detail."""

    t: float
    stage: str
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "stage": self.stage, "kind": self.kind, "data": dict(self.data)}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Event:
        return cls(float(record["t"]), str(record["stage"]), str(record["kind"]), dict(record.get("data", {})))


@dataclass(frozen=True)
class Span:
    """A stage's interval from a start event to its end event (end None: still open)."""

    stage: str
    start: Event
    end: Event | None

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end.t - self.start.t


class Timeline:
    """The session's events, oldest first in the order stamped; thread-safe, at most `max_events` kept."""

    def __init__(self, clock: Clock, max_events: int) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, not {max_events}")
        self.clock = clock
        self.max_events = max_events
        self._events: deque[Event] = deque(maxlen=max_events)
        self._total = 0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Event], None]] = []

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call `listener(event)` for every event added from now on, on the thread that adds it (keep it quick)."""
        self._listeners.append(listener)

    def stamp(self, stage: str, kind: str, /, **data: Any) -> Event:
        """Record `kind` for `stage` now."""
        return self.add(Event(self.clock.now(), stage, kind, data))

    def stamp_at(self, t: float, stage: str, kind: str, /, **data: Any) -> Event:
        """Record `kind` for `stage` at session time `t` (an event known after it happened)."""
        return self.add(Event(float(t), stage, kind, data))

    def add(self, event: Event) -> Event:
        if not math.isfinite(event.t):
            raise ValueError(f"an event's time must be finite: {event}")
        with self._lock:
            self._events.append(event)
            self._total += 1
        for listener in self._listeners:
            listener(event)
        return event

    @property
    def total(self) -> int:
        """Events stamped since the session started, dropped ones included."""
        with self._lock:
            return self._total

    @property
    def dropped(self) -> int:
        """Oldest events dropped to keep `max_events`."""
        with self._lock:
            return self._total - len(self._events)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def events(
        self, stage: str | None = None, kind: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[Event]:
        """Kept events in time order (stamp order among equal times), filtered; since <= t <= until."""
        with self._lock:
            snapshot = list(self._events)
        return sorted(
            (
                e
                for e in snapshot
                if (stage is None or e.stage == stage)
                and (kind is None or e.kind == kind)
                and (since is None or e.t >= since)
                and (until is None or e.t <= until)
            ),
            key=lambda e: e.t,
        )

    def first(self, kind: str, after: float, stage: str | None = None) -> Event | None:
        """The earliest event of `kind` (of `stage`) at or after `after`, or None."""
        found = self.events(stage, kind, since=after)
        return found[0] if found else None

    def last(self, kind: str, before: float | None = None, stage: str | None = None) -> Event | None:
        """The latest event of `kind` (of `stage`) at or before `before`, or None."""
        found = self.events(stage, kind, until=before)
        return found[-1] if found else None

    def spans(self, start_kind: str, end_kind: str, stage: str | None = None, key: str | None = None) -> list[Span]:
        """Intervals per stage from each `start_kind` event to the end event that closes it, in start order.

        An end closes the oldest open start of its stage (first in, first out), or with `key` the open start
        whose data[key] equals its own. Ends with nothing to close are ignored; starts never closed are
        returned with end None."""
        open_: dict[tuple[str, Any], list[Event]] = {}
        spans: dict[int, Span] = {}
        for e in self.events(stage):
            slot = (e.stage, e.data.get(key) if key else None)
            if e.kind == start_kind:
                open_.setdefault(slot, []).append(e)
                spans[id(e)] = Span(e.stage, e, None)
            elif e.kind == end_kind and open_.get(slot):
                start = open_[slot].pop(0)
                spans[id(start)] = Span(e.stage, start, e)
        return sorted(spans.values(), key=lambda s: s.start.t)

    def stages(self) -> list[str]:
        """Stages with kept events, in order of their first event."""
        return list(dict.fromkeys(e.stage for e in self.events()))

    def to_json(self, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            snapshot, total = list(self._events), self._total
        return {
            "format": FORMAT,
            "version": VERSION,
            "max_events": self.max_events,
            "total": total,
            "dropped": total - len(snapshot),
            "meta": dict(meta or {}),
            "events": [e.to_json() for e in snapshot],
        }

    def save(self, path: str | os.PathLike, meta: Mapping[str, Any] | None = None) -> Path:
        """Write the timeline as one JSON file, atomically (a temporary name, then a rename). Data values JSON has
        no type for become lists or numbers when they have tolist()/item() (numpy), else their str; a float that
        is not finite becomes null."""
        text = json.dumps(_plain(self.to_json(meta)), allow_nan=False)
        with atomic_path(path) as tmp:
            tmp.write_text(text + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> tuple[Timeline, dict[str, Any]]:
        """A timeline saved by save() (on a ManualClock at its last event) and its meta."""
        record = json.loads(Path(path).read_text())
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ValueError(f"{path} is not an {FORMAT} file")
        if record.get("version") != VERSION:
            raise ValueError(f"{path}: timeline version {record.get('version')!r}, this code reads {VERSION}")
        events = [Event.from_json(e) for e in record["events"]]
        timeline = cls(ManualClock(max((e.t for e in events), default=0.0)), int(record["max_events"]))
        for e in events:
            timeline.add(e)
        timeline._total = max(int(record["total"]), len(events))
        return timeline, dict(record.get("meta", {}))


def _plain(value: Any) -> Any:
    """`value` made of JSON types only (see Timeline.save)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    for method in ("tolist", "item"):
        if callable(getattr(value, method, None)):
            return _plain(getattr(value, method)())
    return str(value)


class CpuMeter:
    """CPU seconds per stage, from `time.thread_time()` deltas taken on the thread doing the work (thread-safe).

    In asyncio code, measure only stretches without an await: the thread also runs other tasks there."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        """Add the CPU time this thread spends inside the block to `stage`."""
        start = time.thread_time()
        try:
            yield
        finally:
            self.add(stage, time.thread_time() - start)

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._seconds[stage] = self._seconds.get(stage, 0.0) + max(seconds, 0.0)
            self._calls[stage] = self._calls.get(stage, 0) + 1

    def seconds(self, stage: str) -> float:
        with self._lock:
            return self._seconds.get(stage, 0.0)

    def totals(self) -> dict[str, dict[str, float]]:
        """{stage: {"cpu_s": seconds, "calls": measured blocks}}."""
        with self._lock:
            return {s: {"cpu_s": self._seconds[s], "calls": self._calls[s]} for s in self._seconds}

    def stamp(self, timeline: Timeline) -> Event:
        """The totals so far as one "process" "cpu" event."""
        return timeline.stamp("process", "cpu", stages=self.totals())
