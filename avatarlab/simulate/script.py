"""Conversation scripts: what the simulated user says, and when, as YAML.

```yaml
name: demo
echo: {gain: 0.25, delay_s: 0.15}   # optional: the avatar's output comes back into the microphone
end_s: 3.0                          # the session goes on this long after the last reply has ended
turns:
  - say: "Hi Ada, what do you think about [pause 0.9] learning to play the piano?"
    kind: pause                     # a label for the report: turn, pause, pivot, backchannel, barge_in, real
  - audio: ../shared/data/speech_radio31_8s.wav  # or a recording (any format ffmpeg reads; resampled)
    clip: [0.0, 8.0]                # optional: seconds of the recording to play
    after: reply_start              # when: reply_end (default) or reply_start of the avatar's next reply
    wait_s: 1.5                     # ... plus this many seconds
```

`say` text is spoken by the script's user voice (a TTS engine the caller gives: a voice the turn predictor
never trained on); `[pause S]` inserts S seconds of silence. A relative `audio` path is looked up beside
the script, then from the working directory. Each turn's ground truth (when its speech starts and ends in
its audio) comes from the voice's word times, or from the recording's loudness.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import yaml

from avatarlab.atomic import atomic_path
from avatarlab.data.media import decode_audio
from avatarlab.errors import UserInputError
from avatarlab.runtime.tts import Synthesizer
from avatarlab.spec.stream import AUDIO_RATE

KINDS = ("turn", "pause", "pivot", "backchannel", "barge_in", "real", "false_start")
AFTER = ("reply_end", "reply_start")
PAUSE = re.compile(r"\[pause\s+([0-9]+(?:\.[0-9]+)?)\]")
LEAD_S, TAIL_S = 0.15, 0.25  # silence around synthesized speech
LOUD_DB = -35.0  # a recording's speech: 20 ms frames within this of its loudest


@dataclass(frozen=True)
class ScriptTurn:
    """One user turn: its audio (16 kHz mono float32), what it says, when its speech starts and ends in the
    audio (seconds), its label, and when to play it (`wait_s` after the avatar's next `after` event)."""

    kind: str
    text: str
    audio: np.ndarray
    speech: tuple[float, float]
    after: str
    wait_s: float

    @property
    def duration(self) -> float:
        return len(self.audio) / AUDIO_RATE


@dataclass(frozen=True)
class Script:
    name: str
    path: Path
    turns: tuple[ScriptTurn, ...]
    echo_gain: float
    echo_delay_s: float
    end_s: float


def _fail(path: Path, what: str, fix: str) -> UserInputError:
    return UserInputError(f"{path}: {what}", fix)


def _number(path: Path, what: str, value: Any, low: float, high: float) -> float:
    """`value` as a float in [low, high], else a UserInputError naming `what`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _fail(path, f"{what} must be a number, not {value!r}", f"use a number in [{low}, {high}]") from None
    if not low <= number <= high:
        raise _fail(path, f"{what} {number} is out of range", f"use a number in [{low}, {high}]")
    return number


def load_script(path: str | Path, voice: Synthesizer | None, cache_dir: str | Path) -> Script:
    """Read and check a script; synthesize its `say` turns with `voice` (cached as wav files in `cache_dir`)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"no conversation script at {path}", "pass script=FILE.yaml (see configs/serve/scripts/)")
    try:
        record = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise _fail(path, f"not valid YAML ({str(e).splitlines()[0]})", "fix the YAML syntax") from e
    if not isinstance(record, dict) or not isinstance(record.get("turns"), list) or not record["turns"]:
        raise _fail(path, "a script is a mapping with a non-empty list `turns`", "see configs/serve/scripts/demo.yaml")
    unknown = set(record) - {"name", "echo", "end_s", "turns", "description"}
    if unknown:
        raise _fail(path, f"unknown keys {sorted(unknown)}", "a script has name, description, echo, end_s and turns")
    echo = record.get("echo") or {}
    if not isinstance(echo, dict) or set(echo) - {"gain", "delay_s"}:
        raise _fail(path, "echo must be a mapping with gain and delay_s", "e.g. echo: {gain: 0.25, delay_s: 0.15}")
    gain = _number(path, "echo gain", echo.get("gain", 0.0), 0.0, 1.0)
    delay = _number(path, "echo delay_s", echo.get("delay_s", 0.15), 0.0, 1.0)
    end_s = _number(path, "end_s", record.get("end_s", 3.0), 0.0, 60.0)
    turns = tuple(
        _turn(path, i, entry, voice, Path(cache_dir)) for i, entry in enumerate(record["turns"], 1)
    )  # fmt: skip
    return Script(str(record.get("name", path.stem)), path, turns, gain, delay, end_s)


def _turn(path: Path, i: int, entry: Any, voice: Synthesizer | None, cache_dir: Path) -> ScriptTurn:
    where = f"turn {i}"
    if not isinstance(entry, dict):
        raise _fail(path, f"{where} must be a mapping", "each turn has say: TEXT or audio: FILE")
    unknown = set(entry) - {"say", "audio", "clip", "kind", "after", "wait_s", "text"}
    if unknown:
        raise _fail(path, f"{where}: unknown keys {sorted(unknown)}", "a turn has say/audio, clip, kind, after, wait_s")
    kind, after = str(entry.get("kind", "turn")), str(entry.get("after", "reply_end"))
    if kind not in KINDS:
        raise _fail(path, f"{where}: kind {kind!r}", f"use one of {', '.join(KINDS)}")
    if after not in AFTER:
        raise _fail(path, f"{where}: after {after!r}", f"use one of {', '.join(AFTER)}")
    wait_s = _number(path, f"{where}: wait_s", entry.get("wait_s", 0.8), 0.0, 60.0)
    if ("say" in entry) == ("audio" in entry):
        raise _fail(path, f"{where} needs exactly one of say and audio", "say: TEXT, or audio: FILE")
    if "say" in entry:
        if voice is None:
            raise _fail(path, f"{where} says text but no user voice was given", "give the simulation a user voice")
        text = str(entry["say"])
        audio, speech = _spoken(text, voice, cache_dir)
        return ScriptTurn(kind, PAUSE.sub(" ", text).strip(), audio, speech, after, wait_s)
    audio = _recording(path, where, str(entry["audio"]), entry.get("clip"))
    return ScriptTurn(
        kind, str(entry.get("text", Path(str(entry["audio"])).stem)), audio, _loud_span(audio), after, wait_s
    )


def _recording(path: Path, where: str, name: str, clip: Any) -> np.ndarray:
    candidates = [path.parent / name, Path.cwd() / name] if not Path(name).is_absolute() else [Path(name)]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise _fail(path, f"{where}: no audio file {name} (looked in {', '.join(str(c.parent) for c in candidates)})",
                    "give a path relative to the script or to the working directory")  # fmt: skip
    audio = decode_audio(found, AUDIO_RATE)  # mono, resampled
    if clip is not None:
        if not (isinstance(clip, list) and len(clip) == 2):
            raise _fail(path, f"{where}: clip {clip!r}", "clip: [START_S, END_S] with START_S < END_S")
        start = _number(path, f"{where}: clip start", clip[0], 0.0, 1e6)
        end = _number(path, f"{where}: clip end", clip[1], 0.0, 1e6)
        if not start < end:
            raise _fail(path, f"{where}: clip {clip!r}", "clip: [START_S, END_S] with START_S < END_S")
        audio = audio[round(start * AUDIO_RATE) : round(end * AUDIO_RATE)]
    if len(audio) < AUDIO_RATE // 10:
        raise _fail(path, f"{where}: {found} holds less than 0.1 s of audio there", "check the file and the clip")
    return np.ascontiguousarray(audio, np.float32)


def _loud_span(audio: np.ndarray) -> tuple[float, float]:
    """Where a recording's speech starts and ends: its first and last 20 ms frames within LOUD_DB of its loudest."""
    hop = AUDIO_RATE // 50
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)  # [F, 320]
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = np.flatnonzero(level > level.max() + LOUD_DB)
    return float(loud[0] * hop / AUDIO_RATE), float((loud[-1] + 1) * hop / AUDIO_RATE)


def _spoken(text: str, voice: Synthesizer, cache_dir: Path) -> tuple[np.ndarray, tuple[float, float]]:
    """`text` spoken by `voice` with its [pause S] silences; the speech span from the voice's word times."""
    # what makes the voice (espeak's Voice; piper's voice file and synthesis settings) and the text
    made_by = [getattr(voice, name, "") for name in ("voice", "voice_file", "_config")]
    identity = f"{voice.engine}|{made_by}|{text}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    cached = cache_dir / f"{key}.wav"
    span_file = cached.with_suffix(".span")
    if cached.is_file() and span_file.is_file():
        start, end = (float(v) for v in span_file.read_text().split())
        return sf.read(cached, dtype="float32")[0], (start, end)
    parts: list[np.ndarray] = [np.zeros(round(LEAD_S * AUDIO_RATE), np.float32)]
    first: float | None = None
    last = 0.0
    pieces = PAUSE.split(text)  # text, pause, text, pause, ...
    for j, piece in enumerate(pieces):
        offset = sum(len(p) for p in parts) / AUDIO_RATE
        if j % 2:
            parts.append(np.zeros(round(float(piece) * AUDIO_RATE), np.float32))
            continue
        if not piece.strip():
            continue
        utterance = voice.synthesize(piece.strip())
        if utterance.words:
            first = offset + utterance.words[0].start if first is None else first
            last = offset + utterance.words[-1].end
        parts.append(utterance.audio)
    parts.append(np.zeros(round(TAIL_S * AUDIO_RATE), np.float32))
    audio = np.concatenate(parts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(cached) as tmp:
        sf.write(tmp, audio, AUDIO_RATE, format="WAV")
    span = (first or 0.0, last)
    with atomic_path(span_file) as tmp:
        tmp.write_text(f"{span[0]} {span[1]}\n")
    return audio, span
