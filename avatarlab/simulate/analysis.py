"""Per-turn latencies of a scripted conversation, read from its timeline against the script's ground truth.

For a turn to answer (every kind but backchannel and false_start), all in seconds after the end of the user's
speech (negative: before it): `last_word` (the last word of the turn known), `commit`, `first_token` (of the
reply that played; a kept draft's came earlier), `first_audio` (its first phrase synthesized) and
`first_frame` (the first avatar frame with audio sent), and `after_commit` (the commit -> that frame: the reply's
own share, the rest being the turn predictor's wait). A turn is a false cut-in when the reply was committed
before the user's speech ended. For a barge-in: `detect_s` (its speech start -> the stop decision) and
`stop_s` (its speech start -> the end of the last avatar sample sent: where the reply was held, when it was held
until the stop). For a backchannel: whether the reply went on, and how long it was held (`held_s`). For every
turn, `stray_holds`: holds of a reply that began after the turn's speech had ended (+1.5 s) and before the next
turn's began, i.e. without user speech (the avatar's own echo).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from avatarlab.runtime.timeline import Event, Timeline

ANSWERED = ("turn", "pause", "pivot", "real", "barge_in")


def _first(events: list[Event], after: float, before: float, **match: Any) -> Event | None:
    for e in events:
        if after <= e.t < before and all(e.data.get(k) == v for k, v in match.items()):
            return e
    return None


def analyse(timeline: Timeline, kinds: Sequence[str]) -> dict[str, Any]:
    """{"rows": one per user turn, and the aggregates} (see the module's doc)."""
    starts = {int(e.data["turn"]): e.t for e in timeline.events("user", "speech_start")}
    ends = {int(e.data["turn"]): e.t for e in timeline.events("user", "speech_end")}
    commits = timeline.events("turn", "commit")
    replies = timeline.events("turn", "reply")
    words = [e for e in timeline.events("asr", "word") if not e.data.get("echo")]
    tokens = timeline.events("llm", "first_token")
    tts_ends = timeline.events("tts", "end")
    out_starts = timeline.events("output", "start")
    out_ends = timeline.events("output", "end")
    barge_ins = timeline.events("interrupt", "barge_in")
    holds = timeline.events("output", "hold")
    resumes = timeline.events("output", "resume")
    backchannels = timeline.events("interrupt", "backchannel")
    rows: list[dict[str, Any]] = []
    for i, kind in enumerate(kinds):
        if i not in starts or i not in ends:
            rows.append({"turn": i, "kind": kind, "played": False})
            continue
        start, end = starts[i], ends[i]
        following = starts.get(i + 1, float("inf"))
        row: dict[str, Any] = {"turn": i, "kind": kind, "played": True, "speech_start": start, "speech_end": end}
        row["stray_holds"] = sum(1 for e in holds if end + 1.5 <= e.t < following)
        if kind == "barge_in":
            detect = _first(barge_ins, start, end + 2.0)
            stop = _first(out_ends, detect.t, detect.t + 2.0, status="interrupted") if detect else None
            until = None if stop is None else float(stop.data.get("until", stop.t))  # the last sample's end
            row["detect_s"] = None if detect is None else detect.t - start
            row["stop_s"] = None if until is None else until - start
            row["detect_to_stop_s"] = None if (detect is None or until is None) else until - detect.t
        if kind in ("backchannel", "false_start"):
            barge = _first(barge_ins, start, end + 1.0)
            row["ignored"] = barge is None
            row["judged_backchannel"] = _first(backchannels, start, end + 2.0) is not None
            row["held_s"] = sum(float(e.data["held_s"]) for e in resumes if start <= e.t < end + 2.0)
            rows.append(row)
            continue
        commit = _first(commits, start, following)
        if commit is None:
            row["answered"] = False
            rows.append(row)
            continue
        row["answered"] = True
        row["cut_in"] = commit.t < end
        row["commit"] = commit.t - end
        heard = [w for w in words if start - 0.3 <= float(w.data["end"]) <= end + 0.3 and w.t <= commit.t + 1.0]
        row["last_word"] = heard[-1].t - end if heard else None
        reply = _first(replies, commit.t, commit.t + 0.01 + 1e-6)
        if reply is not None:
            rid = reply.data["reply"]
            row["kept_draft"] = bool(reply.data.get("kept_draft"))
            row["rebased"] = bool(reply.data.get("rebased"))  # kept because the whole turn's reply begins alike
            token = next((e for e in tokens if e.data.get("reply") == rid), None)
            audio = next((e for e in tts_ends if e.data.get("id") == f"{rid}:0"), None)
            frame = next((e for e in out_starts if e.data.get("id") == rid), None)
            row["first_token"] = None if token is None else token.t - end
            row["first_audio"] = None if audio is None else audio.t - end
            row["first_frame"] = None if frame is None else frame.t - end
            row["after_commit"] = None if frame is None else frame.t - commit.t
        rows.append(row)
    return {"rows": rows, **aggregate(rows)}


def _stats(values: Sequence[float]) -> dict[str, float | int | None]:
    v = np.asarray([x for x in values if x is not None], np.float64)
    if not len(v):
        return {"n": 0, "median": None, "p90": None}
    return {"n": int(len(v)), "median": float(np.median(v)), "p90": float(np.percentile(v, 90))}


def aggregate(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians and p90s over rows (of one conversation or many); latencies over turns without a cut-in."""
    answered = [r for r in rows if r.get("kind") in ANSWERED and r.get("played")]
    committed = [r for r in answered if r.get("answered")]
    clean = [r for r in committed if not r.get("cut_in")]
    kept = [r for r in clean if r.get("kept_draft")]
    barge = [r for r in rows if r.get("kind") == "barge_in" and r.get("played")]
    back = [r for r in rows if r.get("kind") in ("backchannel", "false_start") and r.get("played")]
    figures: dict[str, Any] = {
        "turns": len(answered),
        "unanswered": len(answered) - len(committed),
        "cut_ins": sum(1 for r in committed if r.get("cut_in")),
        "cut_in_rate": (sum(1 for r in committed if r.get("cut_in")) / len(committed)) if committed else None,
        "kept_draft_share": (len(kept) / len(clean)) if clean else None,
        "rebased_share": (sum(1 for r in kept if r.get("rebased")) / len(clean)) if clean else None,
    }
    for key in ("last_word", "commit", "first_token", "first_audio", "first_frame"):
        figures[key] = _stats([r.get(key) for r in clean])
    figures["first_frame_kept_draft"] = _stats([r.get("first_frame") for r in kept])
    figures["first_frame_new_reply"] = _stats([r.get("first_frame") for r in clean if not r.get("kept_draft")])
    figures["after_commit"] = _stats([r.get("after_commit") for r in clean])
    figures["after_commit_kept_draft"] = _stats([r.get("after_commit") for r in kept])
    figures["barge_in_detect"] = _stats([r.get("detect_s") for r in barge])
    figures["barge_in_stop"] = _stats([r.get("stop_s") for r in barge])
    figures["barge_in_detect_to_stop"] = _stats([r.get("detect_to_stop_s") for r in barge])
    figures["backchannels_ignored"] = sum(1 for r in back if r.get("ignored"))
    figures["backchannels"] = len(back)
    figures["backchannel_held"] = _stats([r.get("held_s") for r in back if r.get("ignored")])
    figures["stray_holds"] = sum(int(r.get("stray_holds", 0)) for r in rows)
    return figures
