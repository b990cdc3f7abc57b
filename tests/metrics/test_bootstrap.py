from __future__ import annotations

import numpy as np
import pytest

from avatarlab.metrics.bootstrap import block_indices, bootstrap_ci, mean_ci, ratio_ci, usable_block


def test_block_resamples_are_runs_of_consecutive_frames() -> None:
    idx = block_indices(47, 10, np.random.default_rng(0))
    assert idx.shape == (47,) and idx.min() >= 0 and idx.max() < 47
    runs = idx[:40].reshape(4, 10)
    assert (np.diff(runs, axis=1) == 1).all()
    assert usable_block(50) == 10 and usable_block(20) == 4 and usable_block(3) == 1


def test_mean_interval_covers_the_mean_and_shrinks_with_frames() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(0.0, 1.0, 400)
    low, high = mean_ci(values)
    assert low < values.mean() < high
    assert 0.1 < high - low < 0.4  # about 2 x 1.96 / sqrt(400)
    assert mean_ci(values) == (low, high)  # a fixed seed
    short_low, short_high = mean_ci(values[:50])
    assert short_high - short_low > high - low


def test_blocks_widen_the_interval_of_a_slowly_varying_signal() -> None:
    rng = np.random.default_rng(2)
    slow = np.repeat(rng.normal(size=20), 10)  # 200 frames, 10 alike in a row
    narrow, wide = mean_ci(slow, block=1), mean_ci(slow, block=10)
    assert wide[1] - wide[0] > 1.5 * (narrow[1] - narrow[0])


def test_undefined_statistics_give_no_interval() -> None:
    assert all(np.isnan(bootstrap_ci(lambda idx: 1.0, 1)))
    assert all(np.isnan(bootstrap_ci(lambda idx: float("nan"), 30)))
    assert all(np.isnan(ratio_ci(lambda idx: 1.0, lambda idx: -1.0, 30)))
    assert ratio_ci(lambda idx: 2.0, lambda idx: 4.0, 30) == pytest.approx((0.5, 0.5))
