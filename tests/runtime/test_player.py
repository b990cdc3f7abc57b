"""The output clock, stepped by hand on the tiny avatar: a reply starts with its first rendered frame, audio and
frames leave together, late frames repeat the previous one (never delaying the audio), a stop takes effect at the
next tick, a hold pauses the reply where it is and a release resumes it there, and a draft's frame 0 rendered
ahead starts the reply at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatarlab.runtime.avatar import Avatar
from avatarlab.runtime.frames import FrameRing, IdleLoop
from avatarlab.runtime.player import Player, Renderer, Speaking
from avatarlab.runtime.reply_track import ReplyTrack
from avatarlab.runtime.streaming_avatar import StreamingAvatar
from avatarlab.runtime.timeline import CpuMeter, ManualClock, Timeline
from avatarlab.runtime.tts import SpokenWord

CHUNK = 640  # samples a tick at 25 fps


class Sink:
    def __init__(self) -> None:
        self.ticks: list[tuple[float, np.ndarray, np.ndarray, int | None]] = []
        self.played: list[float] = []  # the playback clock after each tick

    def write(self, t: float, frame: np.ndarray, audio: np.ndarray, reply: int | None) -> None:
        self.ticks.append((t, frame.copy(), audio.copy(), reply))


@pytest.fixture(scope="module")
def avatar(avatar_bundle: Path) -> Avatar:
    return Avatar.from_bundle(avatar_bundle)


def setup(avatar: Avatar) -> tuple[Player, Renderer, Sink, list[tuple[str, int, float]]]:
    idle = IdleLoop(avatar, 8)
    while idle.render_next():
        pass
    calls: list[tuple[str, int, float]] = []
    sink = Sink()
    timeline = Timeline(ManualClock(0.0), 1000)
    player = Player(
        25, idle, FrameRing(avatar.spec.size, 6), sink, ManualClock(0.0), timeline, CpuMeter(),
        on_start=lambda s, t: calls.append(("start", s.reply, t)),
        on_phrase=lambda s, i, t: calls.append(("phrase", i, t)),
        on_end=lambda s, t, status: calls.append((status, s.reply, t)),
        on_resume=lambda s, at, held: calls.append(("resume", s.reply, held)),
        on_tick=sink.played.append,
    )  # fmt: skip
    return player, Renderer(player, timeline, CpuMeter(), 0.05, 1), sink, calls


def reply(avatar: Avatar, seconds: float, seed: int = 0) -> Speaking:
    track = ReplyTrack(7, 10.0)
    rng = np.random.default_rng(seed)
    audio = (0.1 * rng.standard_normal(round(seconds * 16000))).astype(np.float32)
    track.append("hello there", audio, [SpokenWord("hello", 0.0, 0.2), SpokenWord("there", 0.25, 0.4)])
    track.close()
    return Speaking(track, StreamingAvatar(avatar, pose_window=8), 0, 0.0)


def started(
    avatar: Avatar, seconds: float, ticks: int
) -> tuple[Player, Renderer, Sink, list[tuple[str, int, float]], Speaking]:
    """A player that has sent the first `ticks` ticks of a reply `seconds` long."""
    player, renderer, sink, calls = setup(avatar)
    speaking = reply(avatar, seconds)
    player.queue(speaking, player.pose_for_start(1))
    renderer.render_reply(speaking)
    for _ in range(ticks):
        renderer.render_reply(speaking)
        player.step()
    return player, renderer, sink, calls, speaking


def armed_draft(avatar: Avatar) -> tuple[Player, Renderer, Sink, Speaking]:
    """A player, its renderer and sink, and a draft reply whose codes are computed, armed: the user has paused."""
    player, renderer, sink, _ = setup(avatar)
    draft = reply(avatar, 0.4)
    player.prepare(draft)
    renderer.feed(draft)
    draft.armed.set()
    return player, renderer, sink, draft


def test_a_reply_starts_with_its_first_frame_and_audio_never_waits(avatar: Avatar) -> None:
    player, renderer, sink, calls = setup(avatar)
    speaking = reply(avatar, 0.4)
    player.queue(speaking, player.pose_for_start(2))
    player.step()  # frame 0 not rendered yet: the idle loop goes on, silent
    assert sink.ticks[-1][3] is None and not sink.ticks[-1][2].any()
    assert renderer.render_reply(speaking)  # frame 0
    player.step()
    t, frame, audio, who = sink.ticks[-1]
    assert who == 7 and calls[:2] == [("start", 7, t), ("phrase", 0, t)]
    np.testing.assert_array_equal(audio, speaking.track.read(0, CHUNK))  # reply audio from its first sample
    for _ in range(3):  # the renderer stops: frames repeat, the audio goes on
        player.step()
    assert [s[3] for s in sink.ticks[-3:]] == [7, 7, 7]
    np.testing.assert_array_equal(sink.ticks[-1][1], frame)
    np.testing.assert_array_equal(sink.ticks[-1][2], speaking.track.read(3 * CHUNK, CHUNK))
    assert player.repeated == 3
    while player.playing() is not None or player.queued is not None:
        renderer.render_reply(speaking)
        player.step()
    assert calls[-1][0] == "done"
    played = np.concatenate([s[2] for s in sink.ticks if s[3] == 7])
    np.testing.assert_array_equal(played[: speaking.track.length], speaking.track.read(0, speaking.track.length))


def test_a_stop_takes_effect_at_the_next_tick(avatar: Avatar) -> None:
    player, renderer, sink, calls, speaking = started(avatar, 2.0, ticks=5)
    player.stop("barge-in")
    player.step()
    assert calls[-1][0] == "interrupted" and calls[-1][2] == pytest.approx(sink.ticks[-1][0])
    assert sink.ticks[-1][3] is None and not sink.ticks[-1][2].any()  # silence and the idle loop at once


def test_a_held_reply_waits_and_resumes_where_it_was(avatar: Avatar) -> None:
    player, renderer, sink, calls, speaking = started(avatar, 1.0, ticks=4)
    shown_pose = player.tick - 1 - player.phase  # the head pose of the last reply frame sent
    player.hold()
    for _ in range(3):
        renderer.render_reply(speaking)
        player.step()
    held = sink.ticks[-3:]
    held_ticks = range(len(sink.ticks) - 3, len(sink.ticks))
    assert all(who == 7 and not audio.any() for _, _, audio, who in held)  # the reply's, paused: silence, idle
    for _, frame, _, _ in held:  # the head stays in the pose it had
        np.testing.assert_array_equal(frame, player.idle.frame(shown_pose))
    assert sink.played[-3:] == [pytest.approx(sink.ticks[-3][0])] * 3  # the playback clock waits
    player.release()
    renderer.render_reply(speaking)
    player.step()
    assert calls[-1] == ("resume", 7, pytest.approx(3 / 25))
    np.testing.assert_array_equal(sink.ticks[-1][2], speaking.track.read(4 * CHUNK, CHUNK))  # the next samples
    assert player.tick - 1 - player.phase == shown_pose + 1  # and the next pose
    while player.playing() is not None:
        renderer.render_reply(speaking)
        player.step()
    played = np.concatenate([s[2] for j, s in enumerate(sink.ticks) if s[3] == 7 and j not in held_ticks])
    np.testing.assert_array_equal(played[: speaking.track.length], speaking.track.read(0, speaking.track.length))


def test_a_reply_stopped_while_held_ends_where_it_was_held(avatar: Avatar) -> None:
    player, renderer, sink, calls, speaking = started(avatar, 2.0, ticks=4)
    player.hold()
    player.step()
    held_at = sink.ticks[-1][0]
    player.step()
    player.stop("barge-in")
    player.step()
    assert calls[-1] == ("interrupted", 7, pytest.approx(held_at))  # the last reply sample ended there


def test_a_frame_rendered_ahead_starts_the_reply_at_once(avatar: Avatar) -> None:
    player, renderer, sink, calls = setup(avatar)
    draft = reply(avatar, 0.4)
    player.prepare(draft)
    assert renderer.feed(draft) and draft.stream.ready > 0
    assert not renderer.render_early(draft)  # not armed: the user has not paused
    draft.armed.set()
    assert renderer.render_early(draft) and draft.early_pose is not None
    assert not renderer.render_early(draft)  # still valid: not rendered again
    player.step()
    player.step()  # the commit comes two ticks later; the engine asks for the pose a render lead ahead
    player.queue(draft, player.pose_for_start(5))
    assert draft.first_frame.is_set() and draft.pose_start == draft.early_pose
    player.step()
    assert sink.ticks[-1][3] == 7  # no render in between
    expected = StreamingAvatar(avatar, pose_window=8, first_frame=draft.early_pose)
    expected.feed(draft.track.read(0, draft.track.length))
    expected.close()
    np.testing.assert_array_equal(sink.ticks[-1][1], expected.render_frame(0).image)


def test_a_frame_rendered_ahead_that_ends_after_the_commit_starts_the_reply(avatar: Avatar) -> None:
    player, renderer, sink, draft = armed_draft(avatar)
    player.queue(draft, player.pose_for_start(5))  # the commit comes while frame 0 is still being rendered ahead
    assert not draft.first_frame.is_set()
    renderer.render_s = 0.0  # the render is done at once: its pose is the next tick's, give or take the tolerance
    assert renderer.render_early(draft)
    assert draft.first_frame.is_set() and draft.pose_start == draft.early_pose and draft.rendered == 1
    player.step()
    assert sink.ticks[-1][3] == 7  # the reply starts at the next tick


def test_a_long_pause_keeps_a_fresh_frame_ahead(avatar: Avatar) -> None:
    player, renderer, sink, draft = armed_draft(avatar)
    for _ in range(30):  # 1.2 s of pause: rendered again as the head moves on
        player.step()
        renderer.render_early(draft)
    assert 1 < draft.early_renders <= renderer.max_early_renders
    player.queue(draft, player.pose_for_start(5))
    assert draft.first_frame.is_set() and draft.pose_start == draft.early_pose


def test_a_commit_while_the_next_frame_ahead_is_not_due_yet_starts_with_the_one_before(avatar: Avatar) -> None:
    player, renderer, sink, draft = armed_draft(avatar)
    renderer.render_s = 3.2 * player.period  # a render takes four ticks: each frame is for a pose six ticks on
    assert renderer.render_early(draft)
    first_pose = draft.early_pose
    first = draft.early_frame.copy()
    for _ in range(20):  # the head moves on until a new frame is due
        if renderer.render_early(draft):
            break
        player.step()
    assert draft.early_pose > first_pose + player.pose_tolerance  # rendered fast: not usable for a few ticks
    player.queue(draft, player.pose_for_start(5))  # the commit comes now
    assert draft.first_frame.is_set() and draft.pose_start == first_pose  # the frame before it, still in tolerance
    player.step()
    assert sink.ticks[-1][3] == 7
    np.testing.assert_array_equal(sink.ticks[-1][1], first)


def test_a_frame_rendered_for_another_moment_is_not_used(avatar: Avatar) -> None:
    player, renderer, sink, draft = armed_draft(avatar)
    assert renderer.render_early(draft)
    for _ in range(10):  # the commit comes much later: the head has moved on
        player.step()
    player.queue(draft, player.pose_for_start(1))
    assert not draft.first_frame.is_set() and draft.pose_start != draft.early_pose
