"""The turn corpus format (JSONL, one user turn a line; see docs/turn_corpus.md): types, reader, writer."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avatarlab.atomic import atomic_path
from avatarlab.errors import UserInputError

_KNOWN = {
    "id",
    "words",
    "end",
    "audio",
    "offset",
    "pivot_word",
    "complete_at",
    "text",
    "family",
    "kind",
    "ending",
    "split",
}
_PUNCT = re.compile(r"[^\w']+")


class CorpusError(UserInputError):
    """A corpus line that does not follow the format: names the file, line and field."""


@dataclass(frozen=True)
class Word:
    """One recognised word and its times in seconds from the turn's start."""

    word: str
    start: float
    end: float

    @property
    def norm(self) -> str:
        """Lower case, punctuation removed (what the features see)."""
        return normalize_word(self.word)


@dataclass
class Turn:
    """One user turn: its words, its end, and optional audio and meaning annotations.

    pivot_word:  index of the word where the meaning turns (None: the late words change nothing).
    complete_at: the shortest prefix, in words, whose reply fits the whole turn (None: unknown).
    offset:      where the turn's time 0 sits in the audio file, in seconds.
    """

    id: str
    words: list[Word]
    end: float
    audio: Path | None = None
    offset: float = 0.0
    pivot_word: int | None = None
    complete_at: int | None = None
    text: str = ""
    family: str = ""
    kind: str = ""
    ending: str = ""
    split: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens(self) -> list[str]:
        return [w.norm for w in self.words]

    def to_json(self, base_dir: Path | None = None) -> dict[str, Any]:
        """The JSONL record; the audio path is written relative to `base_dir` when it lies inside it."""
        audio = None
        if self.audio is not None:
            audio = str(self.audio)
            if base_dir is not None:
                try:
                    audio = str(Path(self.audio).resolve().relative_to(Path(base_dir).resolve()))
                except ValueError:
                    audio = str(Path(self.audio).resolve())
        record: dict[str, Any] = {
            "id": self.id,
            "text": self.text or " ".join(w.word for w in self.words),
            "words": [{"word": w.word, "start": round(w.start, 4), "end": round(w.end, 4)} for w in self.words],
            "end": round(self.end, 4),
            "audio": audio,
            "pivot_word": self.pivot_word,
            "complete_at": self.complete_at,
        }
        if self.offset:
            record["offset"] = round(self.offset, 4)
        for key in ("family", "kind", "ending", "split"):
            if getattr(self, key):
                record[key] = getattr(self, key)
        record.update(self.extra)
        return record


def normalize_word(word: str) -> str:
    return _PUNCT.sub("", word.lower().replace("\u2019", "'")).strip("'")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_turn(record: Any, where: str, base_dir: Path) -> Turn:
    """Validate one decoded JSON line; `where` ("FILE:LINE") prefixes every error."""

    def fail(field_name: str, problem: str) -> CorpusError:
        return CorpusError(f"{where}: field {field_name!r}: {problem}", "see docs/turn_corpus.md for the line format")

    if not isinstance(record, dict):
        raise CorpusError(
            f"{where}: a line must be a JSON object, got {type(record).__name__}", "see docs/turn_corpus.md"
        )
    if not isinstance(record.get("id"), str) or not record["id"]:
        raise fail("id", "required, a non-empty string")
    words_raw = record.get("words")
    if not isinstance(words_raw, list) or not words_raw:
        raise fail("words", "required, a non-empty list of {word, start, end}")
    words: list[Word] = []
    for i, w in enumerate(words_raw):
        name = f"words[{i}]"
        if not isinstance(w, dict):
            raise fail(name, "must be an object {word, start, end}")
        if not isinstance(w.get("word"), str) or not w["word"].strip():
            raise fail(f"{name}.word", "required, a non-empty string")
        for key in ("start", "end"):
            if not _number(w.get(key)) or w[key] < 0:
                raise fail(f"{name}.{key}", f"required, a number of seconds >= 0 (got {w.get(key)!r})")
        if w["end"] < w["start"]:
            raise fail(f"{name}.end", f"must be >= start ({w['end']} < {w['start']})")
        if words and w["start"] < words[-1].start:
            raise fail(
                f"{name}.start", f"words must be in time order ({w['start']} < previous start {words[-1].start})"
            )
        words.append(Word(w["word"], float(w["start"]), float(w["end"])))
    end = record.get("end")
    if not _number(end):
        raise fail("end", f"required, the turn's end in seconds (got {end!r})")
    if end + 1e-3 < words[-1].end:
        raise fail("end", f"must be >= the last word's end ({end} < {words[-1].end})")
    audio = record.get("audio")
    if audio is not None and (not isinstance(audio, str) or not audio):
        raise fail("audio", "a path string or null")
    offset = record.get("offset", 0.0)
    if not _number(offset) or offset < 0:
        raise fail("offset", f"a number of seconds >= 0 (got {offset!r})")
    pivot = record.get("pivot_word")
    if pivot is not None and (not isinstance(pivot, int) or isinstance(pivot, bool) or not 0 <= pivot < len(words)):
        raise fail("pivot_word", f"null or a word index in [0, {len(words) - 1}] (got {pivot!r})")
    complete = record.get("complete_at")
    if complete is not None and (
        not isinstance(complete, int) or isinstance(complete, bool) or not 1 <= complete <= len(words)
    ):
        raise fail("complete_at", f"null or a prefix length in [1, {len(words)}] (got {complete!r})")
    if pivot is not None and complete is not None and complete <= pivot:
        raise fail(
            "complete_at", f"must be > pivot_word ({complete} <= {pivot}): a prefix without the pivot cannot fit"
        )
    for key in ("text", "family", "kind", "ending", "split"):
        if key in record and not isinstance(record[key], str):
            raise fail(key, "must be a string")
    audio_path = None
    if audio is not None:
        audio_path = Path(audio) if os.path.isabs(audio) else base_dir / audio
    return Turn(
        id=record["id"],
        words=words,
        end=float(end),
        audio=audio_path,
        offset=float(offset),
        pivot_word=pivot,
        complete_at=complete,
        text=record.get("text", ""),
        family=record.get("family", ""),
        kind=record.get("kind", ""),
        ending=record.get("ending", ""),
        split=record.get("split", ""),
        extra={k: v for k, v in record.items() if k not in _KNOWN},
    )


def read_corpus(path: str | Path, check_audio: bool = False) -> list[Turn]:
    """Read and validate a corpus file; raise CorpusError naming the line and field of a bad entry."""
    file = Path(path)
    if not file.is_file():
        raise CorpusError(
            f"corpus file {file} does not exist",
            "generate one with `python -m avatarlab.turn.corpus` or pass corpus=PATH.jsonl",
        )
    turns: list[Turn] = []
    seen: set[str] = set()
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise CorpusError(
            f"{file} is not UTF-8 text (byte {e.start} cannot be decoded)",
            "pass a JSONL corpus (docs/turn_corpus.md), not an audio or binary file",
        ) from e
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorpusError(
                f"{where}: not valid JSON ({e.msg} at column {e.colno})", "one JSON object per line"
            ) from e
        turn = parse_turn(record, where, file.parent)
        if turn.id in seen:
            raise CorpusError(f"{where}: field 'id': duplicate id {turn.id!r}", "give every turn a unique id")
        if check_audio and turn.audio is not None and not turn.audio.is_file():
            raise CorpusError(
                f"{where}: field 'audio': {turn.audio} does not exist",
                "fix the path (relative paths start at the corpus file's folder)",
            )
        seen.add(turn.id)
        turns.append(turn)
    if not turns:
        raise CorpusError(f"{file} holds no turns", "check the file; one JSON object per line")
    return turns


def write_corpus(path: str | Path, turns: Iterable[Turn]) -> Path:
    """Write turns as JSONL atomically; audio paths inside the file's folder are stored relative."""
    file = Path(path)
    with atomic_path(file) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            for turn in turns:
                f.write(json.dumps(turn.to_json(file.parent), ensure_ascii=False) + "\n")
    return file
