"""Turn-taking figures from replayed turns: end-of-turn AUC/F1, false cut-ins, latency, draft reuse,
wrong drafts; the comparison table and the latency histogram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from avatarlab.atomic import atomic_path
from avatarlab.turn.metrics import f1, percentile, roc_auc
from avatarlab.turn.replay import Trace

COLUMNS = (
    ("end_auc", "end AUC", "{:.3f}"),
    ("end_f1", "end F1", "{:.3f}"),
    ("false_cut_in", "false cut-in", "{:.1%}"),
    ("latency_median_ms", "latency median (ms)", "{:.0f}"),
    ("latency_p90_ms", "latency p90 (ms)", "{:.0f}"),
    ("reuse_non_pivot", "draft reuse, non-pivot turns", "{:.1%}"),
    ("early_reuse_additions", "early reuse, late additions", "{:.1%}"),
    ("wrong_draft", "wrong draft, pivot turns", "{:.1%}"),
    ("ready_median_ms", "reply ready median (ms)", "{:.0f}"),
    ("no_commit", "unanswered", "{:d}"),
)


def summarize(
    traces: list[Trace], policy: str, llm_first_words_s: float, end_score: str = "p_end", end_threshold: float = 0.5
) -> dict[str, Any]:
    """Figures for one policy. end_score: "p_end" (the predictor) or "silence" (seconds / end_threshold)."""
    scores, labels = [], []
    cut_ins, latencies, ready = [], [], []
    reuse_np, early_add, wrong, no_commit = [], [], [], 0
    for tr in traces:
        turn, out = tr.turn, tr.outcomes[policy]
        n = len(turn.words)
        score = tr.p_end if end_score == "p_end" else tr.silence / end_threshold
        scores.append(score)
        labels.append(tr.words == n)
        if out.commit_t is None:  # never answered within the replay: count the whole window as its latency
            no_commit += 1
            cut_ins.append(False)
            window = float(tr.t[-1]) if len(tr.t) else turn.end
            latencies.append(window - turn.end)
            ready.append(window - turn.end + llm_first_words_s)
            if turn.pivot_word is None:
                reuse_np.append(False)
            else:
                wrong.append(False)
            if turn.ending.startswith("addition"):
                early_add.append(False)
            continue
        cut_in = out.commit_words < n
        cut_ins.append(cut_in)
        reused_prefix = out.draft if out.reuse else None
        if turn.pivot_word is None:  # a reply that cut the user off counts as no reuse
            reuse_np.append(out.reuse and not cut_in)
        else:  # ... but as a wrong draft when it missed the pivot
            wrong.append(reused_prefix is not None and reused_prefix <= turn.pivot_word)
        if turn.ending.startswith("addition"):
            early_add.append(reused_prefix is not None and reused_prefix < n and not cut_in)
        if not cut_in:
            latency = out.commit_t - turn.end
            latencies.append(latency)
            if out.reuse and out.draft_t is not None:
                ready.append(max(out.commit_t, out.draft_t + llm_first_words_s) - turn.end)
            else:
                ready.append(latency + llm_first_words_s)
    all_scores = np.concatenate(scores) if scores else np.zeros(0)
    all_labels = np.concatenate(labels) if labels else np.zeros(0, bool)
    threshold = 1.0 if end_score == "silence" else end_threshold

    def rate(values: list[bool]) -> float:
        return float(np.mean(values)) if values else float("nan")

    return {
        "policy": policy,
        "turns": len(traces),
        "end_auc": roc_auc(all_scores, all_labels),
        "end_f1": f1(all_scores >= threshold, all_labels),
        "false_cut_in": rate(cut_ins),
        "cut_ins": int(sum(cut_ins)),
        "no_commit": no_commit,
        "latency_median_ms": 1000 * percentile(latencies, 50),
        "latency_p90_ms": 1000 * percentile(latencies, 90),
        "latencies_ms": [round(1000 * x, 1) for x in latencies],
        "reuse_non_pivot": rate(reuse_np),
        "non_pivot_turns": len(reuse_np),
        "early_reuse_additions": rate(early_add),
        "addition_turns": len(early_add),
        "wrong_draft": rate(wrong),
        "wrong_drafts": int(sum(wrong)),
        "pivot_turns": len(wrong),
        "ready_median_ms": 1000 * percentile(ready, 50),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """A markdown table, one row per policy."""
    head = "| policy | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|" + "---|" * (len(COLUMNS) + 1)
    lines = [head, rule]
    for row in rows:
        cells = []
        for key, _, fmt in COLUMNS:
            value = row.get(key)
            cells.append(
                "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else fmt.format(value)
            )
        lines.append(f"| {row['policy']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


FIELD_COLUMNS = (
    ("end_auc", "end AUC", "{:.3f}"),
    ("false_cutoff_300ms", "false cut-off at 300 ms", "{:.1%}"),
    ("false_cutoff_600ms", "false cut-off at 600 ms", "{:.1%}"),
    ("wait_at_5pct_ms", "wait at 5% (ms)", "{:.0f}"),
    ("wait_at_10pct_ms", "wait at 10% (ms)", "{:.0f}"),
)


def _cell(fmt: str, value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else fmt.format(value)


def field_table(field: dict[str, dict[str, Any]]) -> str:
    """The field's end-of-turn figures, one row per policy, each value with its bootstrap 95% interval."""
    head = "| policy | " + " | ".join(title for _, title, _ in FIELD_COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(FIELD_COLUMNS) + 1)]
    for name, figures in field.items():
        cells = []
        for key, _, fmt in FIELD_COLUMNS:
            lo, hi = figures[key]["ci95"]
            cells.append(f"{_cell(fmt, figures[key]['value'])} [{_cell(fmt, lo)}, {_cell(fmt, hi)}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def delay_tables(by_delay: list[dict[str, Any]]) -> str:
    """Per word delay: the policy table and the field's figures (markdown)."""
    parts = []
    for entry in by_delay:
        turns = entry["rows"][0]["turns"]
        parts += [
            f"### words known {entry['word_delay_s']:.2f} s after they end ({turns} turns)",
            "",
            table(entry["rows"]),
            "",
            "False cut-offs at a fixed wait (bootstrap 95% intervals over turns):",
            "",
            field_table(entry["field"]),
            "",
        ]
    return "\n".join(parts).rstrip()


def _save(fig: Any, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_path(path) as target:
            fig.savefig(target, format="png")
    finally:
        plt.close(fig)
    return path


def latency_histogram(by_delay: list[dict[str, Any]], path: str | Path) -> Path:
    """Histograms of response latency (end of turn -> commit) per policy, one panel per word delay, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(by_delay), figsize=(6 * len(by_delay), 4), dpi=110, squeeze=False)
    bins = np.arange(0, 1600, 25)
    for ax, entry in zip(axes[0], by_delay):
        drawn: list[dict[str, Any]] = []
        for row in entry["rows"]:
            twin = next((d for d in drawn if d["latencies_ms"] == row["latencies_ms"]), None)
            if twin is not None:  # the same commit moments (exact reuse shares the predictor's): one histogram
                twin["label"] += f" = {row['policy']}"
                continue
            drawn.append({**row, "label": row["policy"]})
        for row in drawn:
            values = np.clip(row["latencies_ms"], 0, bins[-1] - 1)
            label = f"{row['label']} (median {_cell('{:.0f}', row['latency_median_ms'])} ms)"
            ax.hist(values, bins=bins, alpha=0.6, label=label)
        ax.set_xlabel("response latency after the end of the turn (ms)")
        ax.set_ylabel("turns")
        ax.legend(fontsize=8)
        ax.set_title(f"words known {entry['word_delay_s']:.2f} s after they end")
    fig.tight_layout()
    return _save(fig, path)


def cutoff_curves(by_delay: list[dict[str, Any]], path: str | Path) -> Path:
    """False cut-offs against the wait, one line per policy, one panel per word delay, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(by_delay), figsize=(6 * len(by_delay), 4), dpi=110, squeeze=False)
    for ax, entry in zip(axes[0], by_delay):
        for name, figures in entry["field"].items():
            curve = figures["curve"]
            ax.plot(curve["wait_ms"], 100 * np.asarray(curve["false_cutoff"]), label=name)
        for rate in (5, 10):
            ax.axhline(rate, color="grey", lw=0.6, ls=":")
        ax.set_xlabel("wait: silence before a commit may happen (ms)")
        ax.set_ylabel("false cut-offs (% of turns)")
        ax.set_ylim(0, 100)
        ax.legend()
        ax.set_title(f"words known {entry['word_delay_s']:.2f} s after they end")
    fig.tight_layout()
    return _save(fig, path)
