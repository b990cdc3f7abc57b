"""One conversation's timeline as a PNG: a lane per stage, spans as bars, other events as ticks, and the
turn-taking moments (barge-in, backchannel, echo, false start, commit) as lines across every lane."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from avatarlab.atomic import atomic_path
from avatarlab.runtime.timeline import Event, Timeline

# Lanes in this order when present (and `lanes` is not given); other stages follow in order of first event.
LANE_ORDER = ("user", "vad", "asr", "turn", "llm", "tts", "avatar", "output", "interrupt")
# Event kinds drawn as a vertical line across all lanes: kind -> (colour, line style, line width).
MARKERS = {
    "barge_in": ("red", "-", 1.4),
    "backchannel": ("green", "--", 1.2),
    "echo": ("grey", ":", 1.2),
    "false_start": ("orange", ":", 1.4),
    "commit": ("blue", "--", 0.8),
}
LABEL_CHARS = 40
WORD_GAP_S = 0.15  # annotate at most one word per this many seconds in a lane


def lane_order(timeline: Timeline, lanes: Sequence[str] | None = None) -> list[str]:
    """The plot's lanes, top to bottom: `lanes` then the stages it does not list, or by default the known
    stages of LANE_ORDER present, then the others in order of their first event."""
    stages = timeline.stages()
    first = list(dict.fromkeys(lanes)) if lanes is not None else [s for s in LANE_ORDER if s in stages]
    return first + [s for s in stages if s not in first]


def _short(text: Any, limit: int = LABEL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plot_timeline(timeline: Timeline, path: str | os.PathLike, title: str, lanes: Sequence[str] | None = None) -> Path:
    """Draw the timeline as a PNG at `path`, written atomically; the path.

    "start"/"end" events of a stage (paired by data["id"]) are bars, an unclosed start running to the last
    event; an "output" span whose end has status "interrupted" is red and hatched. Other events are ticks,
    annotated with data["label"] ("word" events: data["text"], at most one per WORD_GAP_S). MARKERS kinds
    are also lines across all lanes."""
    events = timeline.events()
    if not events:
        raise ValueError("the timeline has no events")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    order = lane_order(timeline, lanes)
    row = {stage: i for i, stage in enumerate(order)}
    t0, t1 = events[0].t, events[-1].t
    pad = max(0.02 * (t1 - t0), 0.05)
    min_width = max(0.002 * (t1 - t0), 0.005)  # a zero-length span still shows
    palette = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 3]  # red is for interruptions
    colour = {stage: palette[i % len(palette)] for i, stage in enumerate(order)}

    fig, ax = plt.subplots(figsize=(16, max(3.0, 1 + 0.6 * len(order))), dpi=110)
    try:
        closing: set[int] = set()
        interrupted = False
        for span in timeline.spans("start", "end", key="id"):
            end = span.end.t if span.end is not None else t1
            if span.end is not None:
                closing.add(id(span.end))
            y = row[span.stage]
            cut = span.stage == "output" and span.end is not None and span.end.data.get("status") == "interrupted"
            interrupted = interrupted or cut
            ax.broken_barh(
                [(span.start.t, max(end - span.start.t, min_width))],
                (y - 0.3, 0.6),
                facecolors="tab:red" if cut else colour[span.stage],
                edgecolors="darkred" if cut else "none",
                hatch="//" if cut else None,
                alpha=0.75,
            )
            label = span.start.data.get("label")
            if isinstance(label, str) and label:
                ax.text(span.start.t, y, " " + _short(label), fontsize=6, va="center", ha="left", clip_on=True)

        last_word: dict[str, float] = {}
        markers: dict[str, list[Event]] = {}
        for e in events:
            if e.kind in MARKERS:
                markers.setdefault(e.kind, []).append(e)
            if e.kind == "start" or id(e) in closing:
                continue
            y = row[e.stage]
            ax.vlines(e.t, y - 0.25, y + 0.25, colors=[colour[e.stage]], linewidth=1.0)
            if e.kind == "word":
                text = e.data.get("text")
                if text is None or e.t - last_word.get(e.stage, -float("inf")) < WORD_GAP_S:
                    continue
                last_word[e.stage] = e.t
            else:
                text = e.data.get("label")
            if text is not None and str(text).strip():
                ax.text(e.t, y - 0.28, _short(text), fontsize=6, rotation=30, ha="left", va="bottom", clip_on=True)

        handles: list[Any] = []
        for kind, (line_colour, style, width) in MARKERS.items():
            for e in markers.get(kind, []):
                ax.axvline(e.t, color=line_colour, linestyle=style, linewidth=width, alpha=0.8)
            if kind in markers:
                handles.append(Line2D([], [], color=line_colour, linestyle=style, linewidth=width, label=kind))
        if interrupted:
            handles.append(Patch(facecolor="tab:red", edgecolor="darkred", hatch="//", label="interrupted output"))

        ax.set_yticks(range(len(order)), order)
        ax.set_ylim(len(order) - 0.5, -0.5)  # the first lane on top
        ax.set_xlim(t0 - pad, t1 + pad)
        ax.set_xlabel("session time (s)")
        ax.grid(axis="x", alpha=0.3)
        dropped = timeline.dropped
        ax.set_title(title + (f" ({dropped} older events dropped)" if dropped else ""))
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7)
        fig.tight_layout()
        path = Path(path)
        with atomic_path(path) as target:
            fig.savefig(target, format="png")
    finally:
        plt.close(fig)
    return path
