"""The corpus reader accepts good lines and names the line and field of bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avatarlab.turn.format import CorpusError, Turn, Word, read_corpus, write_corpus

GOOD = {
    "id": "t1",
    "text": "I loved it, not.",
    "words": [
        {"word": "I", "start": 0.1, "end": 0.2},
        {"word": "loved", "start": 0.2, "end": 0.5},
        {"word": "it,", "start": 0.5, "end": 0.7},
        {"word": "not.", "start": 0.8, "end": 1.0},
    ],
    "end": 1.0,
    "audio": "audio/t1.flac",
    "pivot_word": 3,
    "complete_at": 4,
    "voice": "en-us",
}


def _write(path: Path, records: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


def test_good_lines_are_read(tmp_path: Path) -> None:
    second = {"id": "t2", "words": [{"word": "hello", "start": 0.0, "end": 0.4}], "end": 0.5}
    turns = read_corpus(_write(tmp_path / "c.jsonl", [GOOD, "", second]))
    assert [t.id for t in turns] == ["t1", "t2"]
    t = turns[0]
    assert t.tokens == ["i", "loved", "it", "not"]
    assert t.pivot_word == 3 and t.complete_at == 4
    assert t.audio == tmp_path / "audio" / "t1.flac"  # relative to the corpus file
    assert t.extra == {"voice": "en-us"}
    assert turns[1].audio is None and turns[1].pivot_word is None and turns[1].complete_at is None


@pytest.mark.parametrize(
    "change,field",
    [
        ({"id": ""}, "'id'"),
        ({"words": []}, "'words'"),
        ({"words": [{"word": "a", "start": 0.5, "end": 0.2}]}, "'words[0].end'"),
        ({"words": [{"word": "a", "start": -1, "end": 0.2}]}, "'words[0].start'"),
        ({"words": [{"word": "", "start": 0, "end": 0.2}]}, "'words[0].word'"),
        (
            {"words": [{"word": "a", "start": 0.3, "end": 0.4}, {"word": "b", "start": 0.1, "end": 0.2}], "end": 0.5},
            "'words[1].start'",
        ),
        ({"end": 0.5}, "'end'"),
        ({"end": "soon"}, "'end'"),
        ({"pivot_word": 9}, "'pivot_word'"),
        ({"pivot_word": True}, "'pivot_word'"),
        ({"complete_at": 0}, "'complete_at'"),
        ({"complete_at": 3}, "'complete_at'"),  # not past the pivot
        ({"audio": 5}, "'audio'"),
        ({"offset": -1}, "'offset'"),
    ],
)
def test_bad_field_is_named_with_its_line(tmp_path: Path, change: dict, field: str) -> None:
    path = _write(tmp_path / "c.jsonl", [GOOD | {"id": "ok"}, GOOD | change])
    with pytest.raises(CorpusError) as info:
        read_corpus(path)
    assert f"c.jsonl:2: field {field}" in str(info.value)
    assert info.value.fix


def test_bad_json_duplicate_ids_missing_file_and_audio(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"c.jsonl:2: not valid JSON"):
        read_corpus(_write(tmp_path / "c.jsonl", [GOOD, "{oops"]))
    with pytest.raises(CorpusError, match=r"c.jsonl:2: field 'id': duplicate id 't1'"):
        read_corpus(_write(tmp_path / "c.jsonl", [GOOD, GOOD]))
    with pytest.raises(CorpusError, match="does not exist"):
        read_corpus(tmp_path / "missing.jsonl")
    with pytest.raises(CorpusError, match="field 'audio'"):
        read_corpus(_write(tmp_path / "c.jsonl", [GOOD]), check_audio=True)
    with pytest.raises(CorpusError, match="a line must be a JSON object"):
        read_corpus(_write(tmp_path / "c.jsonl", ["[1, 2]"]))


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    audio = tmp_path / "audio" / "x.flac"
    turn = Turn(
        id="x",
        words=[Word("hi", 0.1, 0.3), Word("there", 0.3, 0.6)],
        end=0.6,
        audio=audio,
        pivot_word=None,
        complete_at=2,
        family="f",
        kind="statement",
        ending="none",
        extra={"voice": "en"},
    )
    path = write_corpus(tmp_path / "out.jsonl", [turn])
    assert json.loads(path.read_text())["audio"] == "audio/x.flac"
    back = read_corpus(path)[0]
    assert back.words == turn.words and back.audio == audio and back.complete_at == 2 and back.extra == {"voice": "en"}
