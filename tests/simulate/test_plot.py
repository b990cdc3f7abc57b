"""plot_timeline: one conversation's timeline drawn as a PNG, atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avatarlab.runtime.timeline import ManualClock, Timeline
from avatarlab.simulate.plot import lane_order, plot_timeline


def conversation(output_span: bool = True) -> Timeline:
    """A short exchange over several stages; without output_span the output lane has ticks, not a bar."""
    tl = Timeline(ManualClock(0.0), max_events=1000)
    tl.stamp_at(0.2, "user", "start", label="can you tell me about the weather tomorrow in a long sentence")
    for i, word in enumerate(["can", "you", "tell", "me", "about", "the", "weather"]):
        tl.stamp_at(0.4 + 0.1 * i, "asr", "word", text=word)
    tl.stamp_at(1.5, "user", "end")
    tl.stamp_at(1.8, "turn", "commit", label="end of turn")
    tl.stamp_at(1.9, "llm", "start", id=1, label="reply 1")
    tl.stamp_at(2.0, "llm", "start", id=2)
    tl.stamp_at(2.4, "llm", "end", id=2)
    tl.stamp_at(2.6, "llm", "end", id=1)
    if output_span:
        tl.stamp_at(2.2, "output", "start", label="sunny with a chance of rain")
        tl.stamp_at(5.5, "output", "end", status="interrupted")
    else:
        tl.stamp_at(2.2, "output", "mark")
        tl.stamp_at(5.5, "output", "mark")
    tl.stamp_at(3.0, "interrupt", "backchannel", label="mm-hm")
    tl.stamp_at(5.4, "interrupt", "barge_in")
    tl.stamp_at(6.0, "user", "start", label="wait")
    return tl


def non_white(path: Path) -> int:
    pixels = np.asarray(Image.open(path).convert("RGB"))
    return int((pixels.min(axis=2) < 240).sum())


def test_plot_writes_a_png_atomically(tmp_path: Path) -> None:
    out = plot_timeline(conversation(), tmp_path / "timeline.png", "a scripted exchange")
    assert out == tmp_path / "timeline.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timeline.png"]  # no temporary file left
    with Image.open(out) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert width > 1000 and 250 < height < width
    pixels = np.asarray(Image.open(out).convert("RGB"))
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 110) & (pixels[..., 2] < 110)
    assert red.sum() > 200  # the interrupted output span (and the barge-in line)


def test_a_span_is_drawn(tmp_path: Path) -> None:
    with_span = plot_timeline(conversation(True), tmp_path / "span.png", "t")
    without = plot_timeline(conversation(False), tmp_path / "ticks.png", "t")
    assert Image.open(with_span).size == Image.open(without).size
    assert non_white(with_span) > non_white(without) + 2000  # a 3.3 s bar covers far more than two ticks


def test_lane_order() -> None:
    tl = conversation()
    assert lane_order(tl) == ["user", "asr", "turn", "llm", "output", "interrupt"]
    tl.stamp_at(7.0, "debug", "note")
    assert lane_order(tl)[-1] == "debug"
    assert lane_order(tl, ["output", "user", "nothing"]) == [
        "output",
        "user",
        "nothing",
        "asr",
        "turn",
        "llm",
        "interrupt",
        "debug",
    ]


def test_empty_timeline_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no events"):
        plot_timeline(Timeline(ManualClock(0.0), max_events=10), tmp_path / "empty.png", "empty")
    assert list(tmp_path.iterdir()) == []
