"""Corpus lines from recordings with the bundled Whisper (word timestamps)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from avatarlab.errors import UserInputError
from avatarlab.turn.format import read_corpus
from avatarlab.turn.transcribe import _positional_audio, split_turns, transcribe
from tests.helpers.configs import transcribe_options

REPO = Path(__file__).resolve().parents[2]


def test_generated_speech_is_transcribed_with_word_times(tiny_corpus: Path, tmp_path: Path) -> None:
    source = read_corpus(tiny_corpus / "test.jsonl")[:2]
    out = tmp_path / "rec.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "avatarlab.turn.transcribe", *(str(t.audio) for t in source), f"out={out}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    turns = read_corpus(out, check_audio=True)
    assert [t.id for t in turns] == [Path(t.audio).stem for t in source]
    for got, want in zip(turns, source):
        heard = set(got.tokens)
        assert len(heard & set(want.tokens)) >= len(set(want.tokens)) // 2  # Whisper tiny on espeak: most words right
        assert got.pivot_word is None and got.complete_at is None
        assert (
            abs(got.words[0].start - want.words[0].start) < 0.6 and abs(got.end - want.end) < 1.5
        )  # DTW word times are rough


def test_bad_input_and_turn_splitting(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no audio files"):
        transcribe([], tmp_path / "a.jsonl", **transcribe_options())
    with pytest.raises(UserInputError, match="does not exist"):
        transcribe([str(tmp_path / "missing.wav")], tmp_path / "a.jsonl", **transcribe_options())
    assert _positional_audio(["a.wav", "b c.wav", "out=x.jsonl"]) == ["out=x.jsonl", "audio=['a.wav','b c.wav']"]
    from avatarlab.turn.format import Word

    words = [Word("a", 0.0, 0.2), Word("b", 0.3, 0.5), Word("c", 2.0, 2.2)]
    assert [len(g) for g in split_turns(words, 1.0)] == [2, 1] and split_turns(words, None) == [words]
