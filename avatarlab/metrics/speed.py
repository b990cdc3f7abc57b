"""Render speed: frames per second of a render function, after warm-up."""

from __future__ import annotations

import time
from typing import Callable


def frames_per_second(render: Callable[[int], object], frames: int = 20, warmup: int = 3) -> float:
    """Calls render(i) `warmup` times, then `frames` times, and returns frames per wall-clock second."""
    for i in range(warmup):
        render(i)
    start = time.perf_counter()
    for i in range(frames):
        render(i)
    return frames / (time.perf_counter() - start)
