"""Real recordings into turns: the RTTM reader, the merge rule of docs/turn_corpus.md, and the corpus command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avatarlab.config_args import config_values
from avatarlab.errors import UserInputError
from avatarlab.turn.format import Word, read_corpus
from avatarlab.turn.real import (
    Segment,
    TurnRule,
    build_real_corpus,
    is_hallucination,
    merge_turns,
    read_rttm,
    room_tone,
)

REPO = Path(__file__).resolve().parents[2]


def rule() -> TurnRule:
    """The rule of configs/turn_real.yaml (docs/turn_corpus.md)."""
    return TurnRule(**config_values("turn_real.yaml", "rule")["rule"])


def _seg(speaker: str, start: float, end: float) -> Segment:
    return Segment("rec", speaker, start, end - start)


def test_a_backchannel_in_the_gap_keeps_the_turn_a_longer_reply_ends_it() -> None:
    segments = [
        _seg("A", 0.0, 2.0),
        _seg("B", 2.3, 2.8),  # "yeah": shorter than 1 s
        _seg("A", 3.0, 5.0),  # A goes on: one turn 0-5
        _seg("B", 5.5, 7.0),  # B answers for 1.5 s: A's next segment starts a new turn
        _seg("A", 7.2, 9.0),
        _seg("A", 12.5, 12.9),  # a 3.5 s gap ends the turn; 0.4 s long: dropped
    ]
    assert merge_turns(segments, rule()) == [("A", 0.0, 5.0), ("B", 5.5, 7.0), ("A", 7.2, 9.0)]


def test_gaps_of_three_seconds_or_more_split_and_short_turns_drop() -> None:
    segments = [_seg("A", 0.0, 1.0), _seg("A", 2.9, 3.5), _seg("A", 6.5, 7.0), _seg("A", 7.5, 8.3)]
    assert merge_turns(segments, rule()) == [("A", 0.0, 3.5), ("A", 6.5, 8.3)]


def test_rttm_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rttm"
    bad.write_text("SPEAKER rec 1 0.5 1.0 <NA> <NA> A <NA> <NA>\nSPEAKER rec 1 oops 1.0 <NA> <NA> B <NA> <NA>\n")
    with pytest.raises(UserInputError, match=r"bad.rttm:2"):
        read_rttm(bad)
    with pytest.raises(UserInputError, match="does not exist"):
        read_rttm(tmp_path / "missing.rttm")


def test_silence_hallucinations_are_recognised() -> None:
    assert is_hallucination([Word("Thank", 0, 0.2), Word("you.", 0.2, 0.4)])
    assert is_hallucination([])
    assert not is_hallucination([Word("Thank", 0, 0.2), Word("you", 0.2, 0.4), Word("Sam.", 0.4, 0.6)])


@pytest.mark.slow
@pytest.mark.shared_data
def test_the_shared_meetings_become_turns_with_silence_after(shared_data: Path, tmp_path: Path) -> None:
    ami = shared_data / "ami"
    manifest = build_real_corpus(
        [str(ami / "sample.rttm")],
        [],
        tmp_path / "real",
        audio_dir=None,
        rule=rule(),
        model_dir=None,
        compute_type="float32",
        threads=2,
    )
    turns = read_corpus(tmp_path / "real" / "conversations.jsonl", check_audio=True)
    assert manifest["conversations"]["turns"] == len(turns) >= 3
    for turn in turns:
        audio, rate = sf.read(str(turn.audio))
        assert rate == 16000
        tail = audio[int(round((turn.end + 0.01) * rate)) :]
        assert len(tail) / rate == pytest.approx(2.5 - 0.01, abs=0.02)  # the silence after the turn
        assert np.mean(tail != 0) > 0.5  # room tone, not digital zeros
        speech = audio[int(round(0.3 * rate)) : int(round(turn.end * rate))]
        assert np.sqrt(np.mean(tail**2)) < 0.3 * np.sqrt(np.mean(speech**2))  # and far quieter than the turn
        assert turn.end >= 1.5 + 0.3 - 1e-6 and turn.words[-1].end <= turn.end + 1e-6
        assert turn.extra["recording"] == "sample" and len(turn.words) >= 2


def test_room_tone_is_the_recordings_quietest_background() -> None:
    rng = np.random.default_rng(0)
    rate = 16000
    recording = 0.01 * rng.standard_normal(10 * rate).astype(np.float32)  # a noise floor at 0.01 RMS
    for start in range(0, 10 * rate, 2 * rate):  # and loud speech-like bursts, 1 s of every 2
        recording[start : start + rate] += 0.3 * np.sin(np.arange(rate) * 2 * np.pi * 220 / rate).astype(np.float32)
    tone = room_tone(recording, 2.5)
    assert tone.shape == (int(2.5 * rate),) and tone.dtype == np.float32
    assert np.sqrt(np.mean(tone**2)) == pytest.approx(0.01, rel=0.3)  # the floor's level
    assert np.abs(tone).max() < 0.08  # nothing of the bursts
    np.testing.assert_array_equal(room_tone(recording, 2.5), tone)  # the same every time
    assert not np.any(room_tone(np.zeros(rate, np.float32), 1.0))  # digital silence stays silent


def test_the_command_refuses_missing_inputs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "avatarlab.turn.real", f"rttm=[{tmp_path / 'none.rttm'}]", "monologues=[]",
         f"out={tmp_path / 'out'}"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_precision_the_recognizer_lacks_is_refused_with_the_fix(tmp_path: Path) -> None:
    rttm = tmp_path / "a.rttm"
    rttm.write_text("SPEAKER a 1 0.00 2.00 <NA> <NA> A <NA> <NA>\n")
    with pytest.raises(UserInputError, match="compute_type='int3'") as caught:
        build_real_corpus(
            [str(rttm)],
            [],
            tmp_path / "out",
            audio_dir=None,
            rule=rule(),
            model_dir=None,
            compute_type="int3",
            threads=1,
        )
    assert "float32" in caught.value.fix
    assert not (tmp_path / "out").exists()
