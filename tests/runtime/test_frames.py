"""Frame buffers of the live loop: the back-and-forth head pose, the reply's frame ring, the idle loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatarlab.runtime.avatar import Avatar
from avatarlab.runtime.frames import FrameRing, IdleLoop, pose_index
from avatarlab.runtime.streaming_avatar import StreamingAvatar
from avatarlab.spec.stream import AUDIO_RATE

SIZE = 8
WINDOW = 5  # idle frames: pose period 8


def test_pose_index_goes_back_and_forth() -> None:
    assert [pose_index(k, 4) for k in range(13)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
    assert [pose_index(k, 2) for k in range(5)] == [0, 1, 0, 1, 0]
    assert [pose_index(k, 1) for k in range(4)] == [0, 0, 0, 0]
    for k in range(40):  # one step at a time, never beyond the window
        assert 0 <= pose_index(k, 6) < 6
        assert abs(pose_index(k + 1, 6) - pose_index(k, 6)) == 1


def fill(ring: FrameRing, index: int) -> None:
    """Render frame `index` (every pixel = index) into its slot and publish it."""
    slot = ring.slot_for(index)
    assert slot is not None, index
    slot[...] = index
    ring.publish(index)


def test_take_gives_the_newest_rendered_frame_not_after_the_one_wanted() -> None:
    ring = FrameRing(SIZE, slots=6)
    assert ring.take(0) is None and ring.shown == -1
    fill(ring, 0)
    fill(ring, 2)
    index, frame = ring.take(1)  # frame 1 is late: frame 0 is repeated
    assert index == 0 and int(frame.max()) == 0 and ring.shown == 0
    index, frame = ring.take(3)  # frame 1 never came: skipped
    assert index == 2 and (frame == 2).all() and ring.shown == 2
    fill(ring, 3)
    fill(ring, 4)
    index, frame = ring.take(4)  # 3 was rendered but is late now: skipped
    assert index == 4 and (frame == 4).all()
    assert ring.take(5)[0] == 4  # repeated while 5 is not rendered
    assert ring.rendered() == [0, 2, 3, 4]


def test_slot_for_refuses_frames_shown_already_or_too_far_ahead() -> None:
    ring = FrameRing(SIZE, slots=4)
    assert ring.slot_for(-1) is None
    assert ring.slot_for(0) is not None and ring.slot_for(1) is not None
    assert ring.slot_for(2) is None  # >= shown + slots - 1 = 2: would overwrite a slot the player may show
    fill(ring, 0)
    fill(ring, 1)
    assert ring.take(1)[0] == 1 and ring.shown == 1
    assert ring.slot_for(0) is None and ring.slot_for(1) is None  # at or before the shown frame
    assert ring.slot_for(4) is None
    for i in (2, 3):
        fill(ring, i)
    assert ring.take(3)[0] == 3
    assert ring.slot_for(5) is not None and ring.slot_for(6) is None


def test_publish_and_take_round_trip_through_the_preallocated_buffer() -> None:
    ring = FrameRing(SIZE, slots=5)
    image = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    slot = ring.slot_for(2)
    assert slot is not None and slot.shape == (SIZE, SIZE, 3) and slot.dtype == np.uint8
    assert np.shares_memory(slot, ring.buffer[2])
    slot[...] = image
    assert ring.take(2) is None  # rendered but not published yet
    ring.publish(2)
    index, frame = ring.take(3)
    assert index == 2 and np.shares_memory(frame, ring.buffer[2])
    np.testing.assert_array_equal(frame, image)


def test_a_frame_being_rendered_again_is_not_shown() -> None:
    """slot_for takes the slot out of what take() may return until publish()."""
    ring = FrameRing(SIZE, slots=3)
    fill(ring, 0)
    assert ring.take(0)[0] == 0
    fill(ring, 1)
    assert ring.slot_for(1) is not None  # re-rendering frame 1 (its slot is being written)
    assert ring.take(1)[0] == 0
    ring.publish(1)
    assert ring.take(1)[0] == 1


def test_reset_forgets_every_frame() -> None:
    ring = FrameRing(SIZE, slots=4)
    fill(ring, 0)
    fill(ring, 1)
    assert ring.take(1)[0] == 1
    ring.reset()
    assert ring.shown == -1 and ring.rendered() == [] and ring.take(10) is None
    assert ring.slot_for(0) is not None  # a new reply starts from frame 0


def test_too_few_slots_are_refused() -> None:
    for slots in (0, 1, 2):
        with pytest.raises(ValueError, match="at least 3 slots"):
            FrameRing(SIZE, slots)
    assert FrameRing(SIZE, 3).buffer.shape == (3, SIZE, SIZE, 3)


@pytest.fixture(scope="module")
def avatar(avatar_bundle: Path) -> Avatar:
    return Avatar.from_bundle(avatar_bundle)


def test_the_idle_loop_fills_in_order_and_plays_back_and_forth(avatar: Avatar) -> None:
    loop = IdleLoop(avatar, WINDOW)
    size = avatar.spec.size
    assert loop.frames.shape == (WINDOW, size, size, 3) and not loop.complete
    with pytest.raises(RuntimeError, match="render_next"):
        loop.frame(0)
    for rendered in range(1, WINDOW + 1):
        assert loop.render_next() is True
        # the frame for the furthest pose is the newest rendered one: the loop fills from frame 0 on
        assert np.shares_memory(loop.frame(WINDOW - 1), loop.frames[rendered - 1])
        assert np.shares_memory(loop.frame(0), loop.frames[0])
    assert loop.complete and loop.render_next() is False
    assert all(loop.frames[i].any() for i in range(WINDOW))
    period = 2 * WINDOW - 2
    for k in range(1, period):
        np.testing.assert_array_equal(loop.frame(k), loop.frame(period - k))
    for k in range(3 * period):
        assert np.shares_memory(loop.frame(k), loop.frames[pose_index(k, WINDOW)])


def test_idle_frames_are_the_streaming_avatar_listening_to_silence(avatar: Avatar) -> None:
    loop = IdleLoop(avatar, WINDOW)
    while loop.render_next():
        pass
    stream = StreamingAvatar(avatar, pose_window=WINDOW)
    stream.feed(np.zeros(round(WINDOW / avatar.spec.fps * AUDIO_RATE), np.float32))
    assert stream.close() == WINDOW
    far = np.abs(loop.frames[0].astype(int) - loop.frames[WINDOW - 1].astype(int)).max()
    assert far >= 2, "the head must move across the loop for this comparison to tell poses apart"
    for k in range(2 * (2 * WINDOW - 2) + 1):
        want = stream.render_frame(pose_index(k, WINDOW)).image
        got = loop.frame(k)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1, k


def test_an_idle_loop_needs_a_frame(avatar: Avatar) -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        IdleLoop(avatar, 0)
    loop = IdleLoop(avatar, 1)
    assert loop.render_next() and not loop.render_next()
    np.testing.assert_array_equal(loop.frame(0), loop.frame(17))
