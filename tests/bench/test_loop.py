"""The live-loop benchmark's table, from per-turn rows as the conversation analysis writes them."""

from __future__ import annotations

from avatarlab.bench.loop import table
from avatarlab.simulate.analysis import aggregate


def test_table_shows_each_stage_and_the_replys_own_share_after_the_commit() -> None:
    rows = [
        {"turn": 0, "kind": "turn", "played": True, "answered": True, "cut_in": False, "commit": 0.7,
         "first_frame": 0.75, "after_commit": 0.05, "kept_draft": True},
        {"turn": 1, "kind": "turn", "played": True, "answered": True, "cut_in": False, "commit": 0.9,
         "first_frame": 1.5, "after_commit": 0.6, "kept_draft": False},
        {"turn": 2, "kind": "pause", "played": True, "answered": True, "cut_in": True, "commit": -0.3,
         "first_frame": 0.1, "after_commit": 0.4, "kept_draft": True},
    ]  # fmt: skip
    text = table({"early replies on": aggregate(rows)})
    lines = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert lines["commit"].endswith("| 800 / 880 ms (n=2) |")  # the cut-in's commit is left out
    assert lines["commit -> first frame"].endswith("| 325 / 545 ms (n=2) |")
    assert lines["commit -> first frame, kept draft"].endswith("| 50 / 50 ms (n=1) |")
    assert lines["first frame, new reply"].endswith("| 1500 / 1500 ms (n=1) |")
    assert lines["answered by a kept draft"].endswith("| 50% |")
    assert lines["false cut-ins"].endswith("| 33% (1/3) |")
    assert lines["barge-in: speech start -> stop decision"].endswith("| - |")
