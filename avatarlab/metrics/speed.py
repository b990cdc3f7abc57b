"""Render speed: frames per second of a render function, after warm-up."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def round_rates(render: Callable[[int], object], frames: int = 20, warmup: int = 3, rounds: int = 1) -> list[float]:
    """Calls render(i) `warmup` times, then `rounds` rounds of `frames` calls; frames per wall-clock
    second of each round."""
    for i in range(warmup):
        render(i)
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(frames):
            render(i)
        rates.append(frames / (time.perf_counter() - start))
    return rates


def frames_per_second(render: Callable[[int], object], frames: int = 20, warmup: int = 3, rounds: int = 1) -> float:
    """The median round's frames per second (several rounds keep a busy moment on shared cores from deciding it)."""
    return statistics.median(round_rates(render, frames, warmup, rounds))
