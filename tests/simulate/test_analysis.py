"""Per-turn latencies from a timeline stamped as the engine stamps it: a normal turn, a cut-in, a barge-in and a
backchannel, against hand-computed rows and aggregates; a reply held while speech over it is judged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from avatarlab.runtime.timeline import ManualClock, Timeline
from avatarlab.simulate.analysis import aggregate, analyse

KINDS = ["turn", "turn", "barge_in", "backchannel", "turn"]  # the last turn never played


def user_turn(tl: Timeline, i: int, kind: str, start: float, end: float, text: str) -> None:
    """The simulated user's ground truth, as simulate/session.py stamps it (turn audio starts 0.15 s earlier)."""
    tl.stamp_at(start - 0.15, "user", "start", id=i, label=f"{kind}: {text}", kind=kind)
    tl.stamp_at(start, "user", "speech_start", turn=i, kind=kind)
    tl.stamp_at(end, "user", "speech_end", turn=i, kind=kind, text=text)


def word(tl: Timeline, t: float, text: str, start: float, end: float, echo: bool = False) -> None:
    """A final word of the recognizer, as the listener stamps it."""
    tl.stamp_at(t, "asr", "word", text=text, start=start, end=end, delay=t - end, echo=echo)


def commit(tl: Timeline, t: float, reply: int, kept_draft: bool, rebased: bool = False) -> None:
    """The listener's COMMIT, then the engine's reply at the same session time (`rebased`: a draft the policy
    dropped, kept because the whole turn's reply begins with its words)."""
    tl.stamp_at(
        t, "turn", "commit", words=3, draft=kept_draft, reuse=kept_draft and not rebased, p_end=0.9, p_stable=0.9
    )
    tl.stamp_at(t, "turn", "reply", reply=reply, kept_draft=kept_draft, rebased=rebased)


def reply(tl: Timeline, r: int, token: float, audio: float, start: float, end: float | None, status: str) -> None:
    """The responder's first token and first phrase, the player's output start and end of reply r."""
    tl.stamp_at(token - 0.1, "llm", "start", id=r, kind="reply", label=f"reply {r}")
    tl.stamp_at(token, "llm", "first_token", reply=r, kind="reply")
    tl.stamp_at(audio - 0.05, "tts", "start", id=f"{r}:0", label="Sure.")
    tl.stamp_at(audio, "tts", "end", id=f"{r}:0", seconds=0.8)
    tl.stamp_at(audio + 0.3, "tts", "end", id=f"{r}:1", seconds=0.9)  # a later phrase: not the first audio
    tl.stamp_at(start, "output", "start", id=r, label=f"reply {r}")
    if end is not None:
        tl.stamp_at(end, "output", "end", id=r, status=status)


def conversation() -> Timeline:
    tl = Timeline(ManualClock(0.0), max_events=1000)
    # turn 0: answered 0.4 s after its end by a draft kept at the commit (its first token came before the end)
    user_turn(tl, 0, "turn", 1.0, 2.0, "how are you doing today")
    word(tl, 1.6, "how", 1.0, 1.2)
    word(tl, 2.1, "today", 1.7, 1.95)
    word(tl, 2.15, "sure", 2.05, 2.1, echo=True)  # the avatar's own voice: not the user's last word
    reply(tl, 1, token=1.8, audio=2.0, start=2.4, end=None, status="done")
    commit(tl, 2.2, 1, kept_draft=True, rebased=True)
    tl.stamp_at(4.0, "output", "end", id=1, status="done")
    # turn 1: committed 0.5 s before the user had finished (a cut-in), a new reply
    user_turn(tl, 1, "turn", 5.0, 6.5, "and what about the weekend plans")
    word(tl, 5.9, "what", 5.5, 5.8)
    commit(tl, 6.0, 2, kept_draft=False)
    reply(tl, 2, token=6.3, audio=6.5, start=6.8, end=None, status="")
    # turn 2: the user barges in on reply 2; stop decided 0.5 s after speech start, output ends 0.04 s later
    user_turn(tl, 2, "barge_in", 7.5, 8.8, "no wait that is not what I meant")
    tl.stamp_at(8.0, "interrupt", "stopped", reason="speech", label="speech")
    tl.stamp_at(8.0, "interrupt", "barge_in", reply=2, speech_start=7.5)
    tl.stamp_at(8.04, "output", "end", id=2, status="interrupted")
    word(tl, 8.9, "meant", 8.5, 8.75)
    commit(tl, 9.1, 3, kept_draft=False)
    reply(tl, 3, token=9.5, audio=9.7, start=10.0, end=13.0, status="done")
    # turn 3: a backchannel during reply 3, judged so, no barge-in
    user_turn(tl, 3, "backchannel", 11.0, 11.4, "uh huh")
    tl.stamp_at(11.1, "interrupt", "ducked", reason="speech", label="speech")
    tl.stamp_at(11.6, "interrupt", "backchannel", reason="short", words=["uh", "huh"])
    tl.stamp_at(11.6, "interrupt", "resumed", reason="backchannel", label="backchannel")
    return tl


def approx(row: dict[str, Any], **expected: Any) -> None:
    for key, value in expected.items():
        got = row.get(key, "absent")
        assert got == (pytest.approx(value, abs=1e-9) if isinstance(value, float) else value), (key, got, value)


def test_rows_per_turn() -> None:
    rows = analyse(conversation(), KINDS)["rows"]
    assert [r["turn"] for r in rows] == [0, 1, 2, 3, 4] and [r["kind"] for r in rows] == KINDS
    normal, cut, barge, back, missing = rows
    approx(normal, played=True, speech_start=1.0, speech_end=2.0, answered=True, cut_in=False, commit=0.2,
           kept_draft=True, rebased=True, last_word=0.1, first_token=-0.2, first_audio=0.0,
           first_frame=0.4, after_commit=0.2)  # fmt: skip
    assert "detect_s" not in normal and "ignored" not in normal
    approx(cut, answered=True, cut_in=True, commit=-0.5, kept_draft=False, last_word=-0.6, first_token=-0.2,
           first_audio=0.0, first_frame=0.3, after_commit=0.8)  # fmt: skip
    approx(barge, answered=True, cut_in=False, detect_s=0.5, stop_s=0.54, detect_to_stop_s=0.04, commit=0.3,
           kept_draft=False, last_word=0.1, first_token=0.7, first_audio=0.9, first_frame=1.2,
           after_commit=0.9)  # fmt: skip
    approx(back, played=True, ignored=True, judged_backchannel=True)
    assert "commit" not in back and "answered" not in back
    assert missing == {"turn": 4, "kind": "turn", "played": False}


def test_aggregates_leave_cut_ins_out_of_the_latencies() -> None:
    result = analyse(conversation(), KINDS)
    approx(result, turns=3, unanswered=0, cut_ins=1, cut_in_rate=1 / 3, kept_draft_share=0.5, rebased_share=0.5,
           backchannels=1, backchannels_ignored=1)  # fmt: skip
    # clean turns: 0 and 2 (the cut-in's 0.3 s first frame would have made the median 0.4)
    assert result["first_frame"] == {"n": 2, "median": pytest.approx(0.8), "p90": pytest.approx(1.12)}
    assert result["commit"]["n"] == 2 and result["commit"]["median"] == pytest.approx(0.25)
    assert result["last_word"]["median"] == pytest.approx(0.1)
    assert result["first_token"]["median"] == pytest.approx(0.25)
    assert result["first_audio"]["median"] == pytest.approx(0.45)
    assert result["first_frame_kept_draft"] == {"n": 1, "median": pytest.approx(0.4), "p90": pytest.approx(0.4)}
    assert result["first_frame_new_reply"]["n"] == 1 and result["first_frame_new_reply"]["median"] == pytest.approx(1.2)
    # the reply's own share, commit -> first frame: 0.2 s for the kept draft, 0.9 s for the new reply
    assert result["after_commit"]["n"] == 2 and result["after_commit"]["median"] == pytest.approx(0.55)
    assert result["after_commit_kept_draft"] == {"n": 1, "median": pytest.approx(0.2), "p90": pytest.approx(0.2)}
    assert result["barge_in_detect"]["median"] == pytest.approx(0.5)
    assert result["barge_in_stop"]["median"] == pytest.approx(0.54)
    assert result["barge_in_detect_to_stop"]["median"] == pytest.approx(0.04)


def test_a_reply_held_while_the_speech_is_judged() -> None:
    tl = Timeline(ManualClock(0.0), max_events=1000)
    reply(tl, 1, token=0.2, audio=0.3, start=0.5, end=None, status="")
    user_turn(tl, 0, "barge_in", 1.0, 2.0, "no wait stop")
    tl.stamp_at(1.3, "output", "hold", id=1)  # the speech is judged: the reply waits
    tl.stamp_at(1.6, "interrupt", "barge_in", reply=1, speech_start=1.0)
    tl.stamp_at(1.64, "output", "end", id=1, status="interrupted", until=1.3)  # its last sample ended at the hold
    commit(tl, 2.3, 2, kept_draft=False)
    reply(tl, 2, token=2.5, audio=2.6, start=2.8, end=None, status="")
    user_turn(tl, 1, "backchannel", 3.5, 3.8, "mm hm")
    tl.stamp_at(3.75, "output", "hold", id=2)
    tl.stamp_at(4.2, "output", "resume", id=2, held_s=0.45)
    tl.stamp_at(6.0, "output", "hold", id=2)  # no user speech near: the avatar's echo
    tl.stamp_at(6.2, "output", "resume", id=2, held_s=0.2)
    result = analyse(tl, ["barge_in", "backchannel"])
    barge, back = result["rows"]
    approx(barge, detect_s=0.6, stop_s=0.3, detect_to_stop_s=-0.3)  # silent before the decision
    approx(back, ignored=True, held_s=0.45, stray_holds=1)
    assert result["barge_in_stop"]["median"] == pytest.approx(0.3)
    assert result["backchannel_held"]["median"] == pytest.approx(0.45) and result["stray_holds"] == 1


def test_a_backchannel_that_stopped_the_reply_is_not_ignored() -> None:
    tl = conversation()
    tl.stamp_at(11.3, "interrupt", "barge_in", reply=3, speech_start=11.0)
    back = analyse(tl, KINDS)["rows"][3]
    assert back["ignored"] is False and back["judged_backchannel"] is True
    assert analyse(tl, KINDS)["backchannels_ignored"] == 0


def test_a_turn_never_committed_is_unanswered_and_has_no_latencies() -> None:
    tl = Timeline(ManualClock(0.0), max_events=100)
    user_turn(tl, 0, "turn", 1.0, 2.0, "hello")
    tl.stamp_at(2.5, "turn", "drop", reason="no words", text="")
    result = analyse(tl, ["turn"])
    assert result["rows"][0] == {"turn": 0, "kind": "turn", "played": True, "speech_start": 1.0, "speech_end": 2.0,
                                  "stray_holds": 0, "answered": False}  # fmt: skip
    approx(result, turns=1, unanswered=1, cut_ins=0, cut_in_rate=None, kept_draft_share=None)
    assert result["first_frame"] == {"n": 0, "median": None, "p90": None}


def test_a_saved_timeline_reads_the_same_and_rows_aggregate_across_conversations(tmp_path: Path) -> None:
    tl = conversation()
    loaded, _ = Timeline.load(tl.save(tmp_path / "timeline.json"))
    result = analyse(loaded, KINDS)
    assert result == analyse(tl, KINDS)
    twice = aggregate(result["rows"] * 2)
    approx(twice, turns=6, cut_ins=2, cut_in_rate=1 / 3, kept_draft_share=0.5, backchannels=2)
    assert twice["first_frame"]["n"] == 4 and twice["first_frame"]["median"] == pytest.approx(0.8)
