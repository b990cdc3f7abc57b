from __future__ import annotations

import pytest

from avatarlab.data.prepare import held_out_start

ELEVENTH = 1 / 11  # configs/prepare.yaml val_fraction


@pytest.mark.parametrize(
    ("frames", "held_out"),
    [
        (1500, 136),  # the built-in 60 s subject keeps its 1/11
        (3000, 273),
        (7500, 682),  # five minutes
        (1499, 50),  # under a minute: the last 2 s
        (200, 50),  # the shared 8 s clip
        (100, 50),
        (75, 37),  # at most half of a very short clip
        (50, 25),
    ],
)
def test_held_out_frames(frames: int, held_out: int) -> None:
    assert frames - held_out_start(frames, 25.0, ELEVENTH) == held_out


def test_the_short_stretch_is_two_seconds_at_any_frame_rate() -> None:
    assert 300 - held_out_start(300, 30.0, ELEVENTH) == 60
