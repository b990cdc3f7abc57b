"""The avatar's output: one video frame and its audio every 1/fps seconds, in step, on the session clock.

`Player` ticks at t_k = k / fps. A reply waits (queued) until its first frame is rendered; from that tick on,
tick k sends reply frame i = k - first_tick with the reply's audio samples [i, i + 1) frames long, so audio
and video leave together with one timestamp. When rendering falls behind, the newest rendered frame not after
i is sent again (frames are dropped or repeated, never the audio delayed); when speech synthesis falls
behind, silence is played and written into the track. Between replies the idle loop plays. A stop (barge-in)
takes effect at the next tick. A hold (while speech over the reply is judged) pauses the reply where it is: its
audio and frames wait while the idle loop's frame of the held head pose and silence are sent, and a release
resumes it at the same sample, frame and pose; the phrases' times move by the hold's length. Each tick tells the
sink, then the conversation's playback clock (which does not advance while the reply is held).

`Renderer` draws the frames the player will need: for the reply queued or playing, frame i is rendered into
the ring when it can still be shown in time (later ones first when behind); otherwise it fills the idle loop.

Head pose: output frame k shows pose `pose_index(k - phase)`. A reply is rendered from the pose of the tick it
is expected to start at; when it starts, `phase` moves by the difference, so the head is continuous after it.
While the user pauses, a draft's frame 0 is rendered ahead from the pose a few ticks on (`render_early`); a
commit within POSE_TOLERANCE frames of it starts the reply with that frame, at the next tick.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from avatarlab.runtime.background import BackgroundLoop
from avatarlab.runtime.frames import FrameRing, IdleLoop
from avatarlab.runtime.reply_track import ReplyTrack
from avatarlab.runtime.streaming_avatar import StreamingAvatar
from avatarlab.runtime.timeline import Clock, CpuMeter, Timeline
from avatarlab.spec.stream import AUDIO_RATE

POSE_TOLERANCE = 2  # frames of head pose a frame rendered ahead may be off by (on the quickstart head: 2.5 grey levels)
MAX_EARLY_RENDERS = 12  # renders of a draft's frame 0 ahead, per draft (about one per 2 * POSE_TOLERANCE ticks paused)


class OutputSink(Protocol):
    """Where the avatar's frames and audio go (the transport, or a recorder); called once per tick, in order.
    `frame` and `audio` are views into the player's buffers: copy or encode them before returning."""

    def write(self, t: float, frame: np.ndarray, audio: np.ndarray, reply: int | None) -> None: ...


@dataclass
class Speaking:
    """A reply handed to the player: its track, its streaming avatar, the pose tick it is rendered from, and
    once it plays, its first tick and the phrases scheduled in the conversation."""

    track: ReplyTrack
    stream: StreamingAvatar
    pose_start: int
    queued_at: float
    first_tick: int | None = None
    started_at: float | None = None
    scheduled: int = 0
    fed: int = 0  # track samples given to the streaming avatar
    rendered: int = 0
    first_frame: threading.Event = field(default_factory=threading.Event)
    armed: threading.Event = field(default_factory=threading.Event)  # a draft whose commit may come any moment
    early_frame: np.ndarray | None = None  # its frame 0, rendered ahead from head pose `early_pose`
    early_pose: int | None = None
    early_spare: np.ndarray | None = None  # the frame 0 rendered before it (from `spare_pose`), until the next render
    spare_pose: int | None = None  # None once the next render writes into early_spare
    early_renders: int = 0

    @property
    def reply(self) -> int:
        return self.track.reply


class Player(BackgroundLoop):
    """The output clock (see the module's doc). Callbacks run on the player's thread:
    on_start(speaking, t), on_phrase(speaking, phrase_index, t_start), on_end(speaking, t, status) with status
    "done" or "interrupted" (t: the end of the last sample of the reply sent), on_resume(speaking, held_at, held_s)
    when a hold ends (the reply's times from held_at on move by held_s), on_tick(t_played) after every tick (the
    playback clock: the end of the tick, or where the held reply stopped)."""

    def __init__(
        self,
        fps: int,
        idle: IdleLoop,
        ring: FrameRing,
        sink: OutputSink,
        clock: Clock,
        timeline: Timeline,
        meter: CpuMeter,
        on_start: Callable[[Speaking, float], None],
        on_phrase: Callable[[Speaking, int, float], None],
        on_end: Callable[[Speaking, float, str], None],
        on_resume: Callable[[Speaking, float, float], None],
        on_tick: Callable[[float], None],
    ) -> None:
        self.fps = fps
        self.period = 1.0 / fps
        self.chunk = AUDIO_RATE // fps
        self.idle, self.ring, self.sink, self.clock = idle, ring, sink, clock
        self.timeline, self.meter = timeline, meter
        self.on_start, self.on_phrase, self.on_end, self.on_tick = on_start, on_phrase, on_end, on_tick
        self.on_resume = on_resume
        self.pose_tolerance = POSE_TOLERANCE
        self.tick = 0  # the next tick to send
        self.phase = 0  # pose offset (see the module's doc)
        self.gain = 1.0  # < 1 while the reply is ducked
        self.queued: Speaking | None = None
        self.current: Speaking | None = None
        self.prepared: Speaking | None = None  # a draft: its codes are computed ahead, nothing is rendered
        self.repeated = 0  # reply ticks that showed an earlier frame again
        self._silence = np.zeros(self.chunk, np.float32)
        self._stop_requested: str | None = None
        self._hold_requested = False
        self.held_at: float | None = None  # while the reply is held: the end of its last sample sent
        self._lock = threading.RLock()
        BackgroundLoop.__init__(self, "player")

    # control (any thread)

    def prepare(self, speaking: Speaking | None) -> None:
        """A draft that may be played: the renderer computes its codes while idle (None: forget it)."""
        with self._lock:
            self.prepared = speaking

    def queue(self, speaking: Speaking, pose_start: int) -> None:
        """Play `speaking` from head pose `pose_start` as soon as its first frame is rendered (replacing any reply
        queued before). A frame 0 rendered ahead from a pose within `pose_tolerance` of the next tick's is used as it
        is: the reply then starts at the next tick, from that pose."""
        with self._lock:
            speaking.pose_start = pose_start
            speaking.stream.set_pose_start(pose_start)
            if self.prepared is speaking:
                self.prepared = None
            self.queued = speaking
            self.timeline.stamp("output", "queued", reply=speaking.reply)
            self.adopt_early_frame(speaking)

    def adopt_early_frame(self, speaking: Speaking) -> bool:
        """Start the queued reply `speaking` with a frame 0 rendered ahead, if that frame's head pose is within
        `pose_tolerance` of the next tick's and nothing of the reply is rendered yet: the reply then starts at the
        next tick, from that pose. Called when a reply is queued, and when a frame rendered ahead is done (it may
        finish just after the commit)."""
        with self._lock:
            next_tick = self.tick + 1 - self.phase  # the pose of the next tick: an early frame starts there
            # the newest frame, or the one before it: a new frame is rendered for a pose a render ahead, and the
            # one before stays usable until the head reaches it
            rendered = ((speaking.early_pose, speaking.early_frame), (speaking.spare_pose, speaking.early_spare))
            usable = [
                (abs(pose - next_tick), pose, frame)
                for pose, frame in rendered
                if pose is not None and frame is not None and abs(pose - next_tick) <= self.pose_tolerance
            ]
            if self.queued is not speaking or self.current is not None or speaking.rendered > 0 or not usable:
                return False
            slot = self.ring.slot_for(0)
            if slot is None:
                return False
            _, early, frame = min(usable, key=lambda u: u[0])
            speaking.pose_start = early
            speaking.stream.set_pose_start(early)
            slot[...] = frame
            self.ring.publish(0)
            speaking.rendered = 1
            speaking.first_frame.set()
            self.timeline.stamp("avatar", "first_frame", reply=speaking.reply, render_s=0.0, early=True)
            return True

    def stop(self, reason: str) -> None:
        """Stop the reply playing (at the next tick) and drop the one queued."""
        with self._lock:
            self._stop_requested = reason
            self.queued = None

    def hold(self) -> None:
        """Pause the reply playing at the next tick (until release(); a stop ends it where it was held)."""
        with self._lock:
            self._hold_requested = True

    def release(self) -> None:
        """Resume a held reply at the next tick."""
        with self._lock:
            self._hold_requested = False

    def drop(self, reply: int) -> None:
        """Forget reply `reply` if it is queued (it has nothing to play)."""
        with self._lock:
            if self.queued is not None and self.queued.reply == reply:
                self.queued = None
                self.timeline.stamp("output", "dropped", reply=reply)

    def pose_for_start(self, ticks_ahead: int) -> int:
        """The pose index a reply starting `ticks_ahead` ticks from now should be rendered from."""
        with self._lock:
            return self.tick + ticks_ahead - self.phase

    def playing(self) -> Speaking | None:
        with self._lock:
            return self.current

    # the clock

    def _run(self) -> None:
        while self.running:
            due = self.tick * self.period
            wait = due - self.clock.now()
            if wait > 0:
                time.sleep(min(wait, 0.05))
                continue
            self.step()

    def step(self) -> None:
        """Send tick `self.tick` now."""
        calls: list[Callable[[], None]] = []  # callbacks run after the lock is released (they take others)
        with self._lock:
            k = self.tick
            t = k * self.period
            frame, audio, reply = self._next(k, t, calls)
            played = self.held_at if self.held_at is not None else t + self.period
        for call in calls:
            call()
        with self.meter.measure("output"):
            self.sink.write(t, frame, audio, reply)
        with self._lock:
            self.tick = k + 1
        self.on_tick(played)

    def _next(self, k: int, t: float, calls: list[Callable[[], None]]) -> tuple[np.ndarray, np.ndarray, int | None]:
        current = self.current
        if current is not None and self._stop_requested is not None:
            self._end(current, t, "interrupted", calls)
            current = None
        self._stop_requested = None
        if current is None and self.queued is not None and self.ring.take(0) is not None:
            current = self.current = self.queued
            self.queued = None
            current.first_tick, current.started_at = k, t
            self.phase = k - current.pose_start
            self.gain, self._hold_requested = 1.0, False
            self.timeline.stamp_at(t, "output", "start", id=current.reply, label=f"reply {current.reply}")
            calls.append(lambda s=current: self.on_start(s, t))
        if current is None:
            return self.idle.frame(k - self.phase), self._silence, None
        if self._hold_requested:  # the reply waits a tick: its start, first tick and head pose move by one
            if self.held_at is None:
                self.held_at = t
                self.timeline.stamp_at(t, "output", "hold", id=current.reply)
            current.first_tick = (current.first_tick or 0) + 1
            current.started_at = (current.started_at or t) + self.period
            self.phase += 1
            return self.idle.frame(k - self.phase), self._silence, current.reply  # still its reply, paused
        if self.held_at is not None:
            held_at, held_s = self.held_at, t - self.held_at
            self.held_at = None
            self.timeline.stamp_at(t, "output", "resume", id=current.reply, held_s=round(held_s, 3))
            calls.append(lambda s=current: self.on_resume(s, held_at, held_s))
        i = k - (current.first_tick or 0)
        position = i * self.chunk
        if current.track.finished_at(position):
            self._end(current, t, "done", calls)
            return self.idle.frame(k - self.phase), self._silence, None
        if current.track.length < position + self.chunk and not current.track.closed:
            current.track.pad_to(position + self.chunk)  # the next phrase is late: silence, written into the track
        for index in range(current.scheduled, len(current.track.phrases)):
            phrase = current.track.phrases[index]
            start = (current.started_at or t) + phrase.offset / AUDIO_RATE
            calls.append(lambda s=current, i=index, at=start: self.on_phrase(s, i, at))
            current.scheduled = index + 1
        audio = current.track.read(position, self.chunk)
        if len(audio) < self.chunk:
            audio = np.concatenate([audio, self._silence[: self.chunk - len(audio)]])
        if self.gain != 1.0:
            audio = audio * np.float32(self.gain)
        taken = self.ring.take(i)
        if taken is None:  # cannot happen after frame 0 (never overwritten before a newer one is shown)
            return self.idle.frame(k - self.phase), audio, current.reply
        index, frame = taken
        if index != i:
            self.repeated += 1
        return frame, audio, current.reply

    def _end(self, current: Speaking, t: float, status: str, calls: list[Callable[[], None]]) -> None:
        """End the reply at tick time t; `until`: the end of its last sample sent (the hold's start if held)."""
        until = self.held_at if self.held_at is not None else t
        self.current, self.held_at = None, None
        self.gain, self._hold_requested = 1.0, False
        self.ring.reset()
        self.timeline.stamp_at(t, "output", "end", id=current.reply, status=status, until=until)
        calls.append(lambda: self.on_end(current, until, status))


class Renderer(BackgroundLoop):
    """Renders the frames the player will show (see the module's doc); its own thread."""

    def __init__(
        self, player: Player, timeline: Timeline, meter: CpuMeter, start_guess_s: float, torch_threads: int
    ) -> None:
        self.player = player
        self.torch_threads = torch_threads
        self.max_early_renders = MAX_EARLY_RENDERS
        self.timeline, self.meter = timeline, meter
        self.render_s = start_guess_s  # running estimate of one frame's render time
        BackgroundLoop.__init__(self, "renderer")
        self.skipped = 0  # reply frames never rendered (too late to be shown)

    def ticks_ahead(self) -> int:
        """Ticks a frame takes to render (the estimate), plus one."""
        return 1 + math.ceil(self.render_s / self.player.period)

    def _run(self) -> None:
        torch.set_num_threads(self.torch_threads)  # this thread's own setting
        while self.running:
            with self.player._lock:
                speaking = self.player.current or self.player.queued
                prepared = self.player.prepared
            if speaking is not None and self.render_reply(speaking):
                continue
            if speaking is None and prepared is not None and (self.feed(prepared) or self.render_early(prepared)):
                continue
            if speaking is None and not self.player.idle.complete:
                with self.meter.measure("render"):
                    self.player.idle.render_next()
                continue
            time.sleep(0.004)

    def feed(self, speaking: Speaking) -> bool:
        """Give the streaming avatar the track's new audio (its codes are computed); whether there was any."""
        track, stream = speaking.track, speaking.stream
        length = track.length
        fed = False
        if length > speaking.fed and stream.total is None:
            with self.meter.measure("render"):
                stream.feed(np.ascontiguousarray(track.read(speaking.fed, length - speaking.fed)))
            speaking.fed, fed = length, True
        if track.closed and speaking.fed == track.length and stream.total is None:
            with self.meter.measure("render"):
                stream.close()
            fed = True
        return fed

    def render_early(self, draft: Speaking) -> bool:
        """Render an armed draft's frame 0 ahead, from the head pose it would start with once the render is done
        (again before that frame goes out of the player's tolerance, at most `max_early_renders` times, into a spare
        buffer, so a frame is usable all the while); whether it did."""
        tolerance = self.player.pose_tolerance
        if not draft.armed.is_set() or draft.stream.ready == 0 or draft.early_renders >= self.max_early_renders:
            return False
        lead = math.ceil(self.render_s / self.player.period)  # ticks a render takes
        soonest = self.player.pose_for_start(1)
        if draft.early_pose is not None and soonest + lead <= draft.early_pose + tolerance:
            return False  # the frame there is still usable when a new one would be done
        size = self.player.ring.buffer.shape[1]
        with self.player._lock:
            draft.spare_pose = None  # rendered into below: no longer a frame to start with
        frame = draft.early_spare if draft.early_spare is not None else np.zeros((size, size, 3), np.uint8)
        pose = soonest + lead + tolerance  # usable for commits over 2 * tolerance ticks once rendered
        draft.stream.set_pose_start(pose)
        started = time.perf_counter()
        with self.meter.measure("render"):
            draft.stream.render_frame(0, out=frame)
        with self.player._lock:
            draft.early_spare, draft.spare_pose = draft.early_frame, draft.early_pose
            draft.early_frame, draft.early_pose = frame, pose
            draft.early_renders += 1
            self.timeline.stamp(
                "avatar", "early_frame", reply=draft.reply, pose=pose, render_s=time.perf_counter() - started
            )  # fmt: skip
            # committed while it rendered: the frame starts the reply now, or the reply renders from its queued pose
            if self.player.queued is draft and not self.player.adopt_early_frame(draft):
                draft.stream.set_pose_start(draft.pose_start)
        return True

    def render_reply(self, speaking: Speaking) -> bool:
        """Render one frame of `speaking` if one is due; whether it did."""
        stream = speaking.stream
        self.feed(speaking)
        first = speaking.first_tick
        if first is None:
            target = 0 if speaking.rendered == 0 else None
        else:
            lead = min(math.ceil(self.render_s / self.player.period), self.player.ring.slots - 3)
            due = self.player.tick - first + lead  # the frame shown when this render is done
            target = max(speaking.rendered, due)
        if target is None or target >= stream.ready or (stream.total is not None and target >= stream.total):
            return False
        slot = self.player.ring.slot_for(target)
        if slot is None:
            return False
        self.skipped += target - speaking.rendered  # frames too late to be shown, never rendered
        started = time.perf_counter()
        with self.meter.measure("render"):
            stream.render_frame(target, out=slot)
        took = time.perf_counter() - started
        self.render_s = 0.8 * self.render_s + 0.2 * took
        self.player.ring.publish(target)
        if target == 0:
            self.timeline.stamp("avatar", "first_frame", reply=speaking.reply, render_s=took)
            speaking.first_frame.set()
        speaking.rendered = target + 1
        return True
