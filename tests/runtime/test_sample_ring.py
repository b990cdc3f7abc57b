"""A sample ring gives back what was written at each stream position, for its last `capacity` positions."""

from __future__ import annotations

import numpy as np
import pytest

from avatarlab.runtime.sample_ring import SampleRing


def test_positions_read_back_across_the_wrap_and_old_ones_are_gone() -> None:
    ring = SampleRing(10)
    stream = np.arange(1, 26, dtype=np.float32)  # positions 0..24 hold 1..25
    for start in range(0, 25, 7):
        ring.write(start, stream[start : start + 7])
    assert ring.end == 25
    np.testing.assert_array_equal(ring.read(15, 10), stream[15:25])
    np.testing.assert_array_equal(ring.read(12, 6), [0, 0, 0, 16, 17, 18])  # before the last 10: zeros
    np.testing.assert_array_equal(ring.read(23, 4), [24, 25, 0, 0])  # beyond the end: zeros
    assert not np.shares_memory(ring.read(15, 10), ring._buffer)


def test_a_write_longer_than_the_ring_keeps_its_end() -> None:
    ring = SampleRing(4)
    ring.write(3, np.arange(10, dtype=np.float32))  # positions 3..12
    np.testing.assert_array_equal(ring.read(9, 4), [6, 7, 8, 9])
    assert ring.end == 13
    with pytest.raises(ValueError, match="capacity"):
        SampleRing(0)
