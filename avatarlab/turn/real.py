"""`python -m avatarlab.turn.real [rttm=[...]] [monologues=[...]] [out=DIR]`: real recordings into turn
corpus lines, by the one rule of docs/turn_corpus.md ("Real speech").

Conversations come with speaker timings (RTTM): each speaker's segments become turns, each turn's audio is
cut from the recording and followed by silence (the user has stopped; the other side is not in the user's
microphone), and its words come from the bundled recognizer on that audio. A monologue is one turn.

Writes OUT/conversations.jsonl, OUT/monologues.jsonl, OUT/audio/ID.flac and OUT/manifest.json.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import soundfile as sf
from omegaconf import DictConfig, OmegaConf

from avatarlab.atomic import atomic_path, save_json
from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.errors import UserInputError
from avatarlab.turn.format import Turn, Word, write_corpus

log = logging.getLogger(__name__)
SAMPLE_RATE = 16000

# Whisper's usual words for silence or noise: a turn whose whole transcript is one of these is dropped.
SILENCE_HALLUCINATIONS = frozenset(
    {
        "you",
        "thank you",
        "thanks",
        "thanks for watching",
        "thank you for watching",
        "bye",
        "okay",
        "so",
        "um",
        "uh",
        "hmm",
        "mm",
        "oh",
        "ah",
        "the end",
    }
)


@dataclass(frozen=True)
class Segment:
    """One RTTM line: a speaker talks from `start` for `duration` seconds in recording `file`."""

    file: str
    speaker: str
    start: float
    duration: float

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True, kw_only=True)
class TurnRule:
    """How a speaker's segments merge into turns (docs/turn_corpus.md, "Real speech")."""

    max_gap_s: float  # a speaker's segments merge while the gap to their next one is under this
    backchannel_s: float  # another speaker's segment this short inside the gap does not end the turn
    min_turn_s: float  # shorter turns are dropped
    lead_s: float  # audio before the turn's first segment
    tail_s: float  # silence after the turn's last segment
    cut_margin_s: float  # a turn still going this close to the recording's end is dropped


def read_rttm(path: str | Path) -> list[Segment]:
    """Every SPEAKER line of an RTTM file; a malformed line is an error naming the file and line."""
    file = Path(path)
    if not file.is_file():
        raise UserInputError(f"RTTM file {file} does not exist", "pass rttm=[FILE.rttm, ...] with speaker timings")
    segments = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        try:
            start, duration = float(fields[3]), float(fields[4])
            segments.append(Segment(fields[1], fields[7], start, duration))
        except (IndexError, ValueError) as e:
            raise UserInputError(
                f"{file}:{number}: not an RTTM SPEAKER line: {line!r}",
                "expected: SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>",
            ) from e
        if start < 0 or duration <= 0:
            raise UserInputError(f"{file}:{number}: start must be >= 0 and duration > 0", "fix the RTTM line")
    if not segments:
        raise UserInputError(f"{file} holds no SPEAKER lines", "pass an RTTM file with speaker timings")
    return segments


def merge_turns(segments: Sequence[Segment], rule: TurnRule) -> list[tuple[str, float, float]]:
    """(speaker, start, end) of each turn in one recording, in time order, by `rule`.

    A speaker's next segment joins their turn when it starts less than max_gap_s after the turn's end and no
    other speaker's segment of at least backchannel_s starts in the gap between them."""
    by_speaker: dict[str, list[Segment]] = defaultdict(list)
    for s in sorted(segments, key=lambda s: s.start):
        by_speaker[s.speaker].append(s)
    turns = []
    for speaker, own in by_speaker.items():
        others = [s for s in segments if s.speaker != speaker and s.duration >= rule.backchannel_s]
        start, end = own[0].start, own[0].end
        for seg in own[1:]:
            gap_taken = any(end <= o.start < seg.start for o in others)
            if seg.start - end < rule.max_gap_s and not gap_taken:
                end = max(end, seg.end)
                continue
            turns.append((speaker, start, end))
            start, end = seg.start, seg.end
        turns.append((speaker, start, end))
    return sorted((t for t in turns if t[2] - t[1] >= rule.min_turn_s), key=lambda t: t[1])


def load_mono(path: Path) -> np.ndarray:
    """A recording as mono float32 at 16 kHz."""
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise UserInputError(f"{path} could not be read as audio ({e})", "pass wav or flac recordings") from e
    audio = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        import librosa

        audio = librosa.resample(audio, orig_sr=rate, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    return np.ascontiguousarray(audio, dtype=np.float32)


def is_hallucination(words: Sequence[Word]) -> bool:
    """True when the transcript is empty or only a known silence hallucination of Whisper."""
    text = " ".join(w.norm for w in words if w.norm)
    return not text or text in SILENCE_HALLUCINATIONS


def _recognised(clip: Path, model: Any, end_s: float) -> list[Word]:
    from avatarlab.turn.transcribe import recognise

    words = recognise(clip, model)
    # a word the recognizer places in the silence after the turn is its own timing error: clamp it to the turn
    return [Word(w.word, min(w.start, end_s), min(w.end, end_s)) for w in words]


def conversation_turns(
    rttm: Path, audio_dir: Path, out: Path, rule: TurnRule, model: Any
) -> tuple[list[Turn], dict[str, int]]:
    """The turns of every recording an RTTM file names (audio: AUDIO_DIR/<file>.wav), clips written to out/audio."""
    by_file: dict[str, list[Segment]] = defaultdict(list)
    for s in read_rttm(rttm):
        by_file[s.file].append(s)
    turns: list[Turn] = []
    dropped = {"hallucination": 0, "cut": 0}
    for name in sorted(by_file):
        wav = audio_dir / f"{name}.wav"
        if not wav.is_file():
            raise UserInputError(
                f"{rttm} names recording {name!r} but {wav} does not exist",
                "put the recordings beside the RTTM file (NAME.wav), or pass audio_dir=DIR",
            )
        audio = load_mono(wav)
        tail = room_tone(audio, rule.tail_s)  # the recording's own silence, after each of its turns
        for index, (speaker, start, end) in enumerate(merge_turns(by_file[name], rule)):
            if end >= len(audio) / SAMPLE_RATE - rule.cut_margin_s:  # the recording cut it; its speaker did not end it
                dropped["cut"] += 1
                continue
            lo = max(0.0, start - rule.lead_s)
            clip = audio[int(round(lo * SAMPLE_RATE)) : int(round(end * SAMPLE_RATE))]
            clip = np.r_[clip, tail]
            turn_id = f"{name}-{index:02d}"
            path = _write_clip(out / "audio" / f"{turn_id}.flac", clip)
            turn_end = end - lo
            words = _recognised(path, model, turn_end)
            if is_hallucination(words):
                dropped["hallucination"] += 1
                path.unlink()
                continue
            turns.append(
                Turn(
                    id=turn_id,
                    words=words,
                    end=round(turn_end, 3),
                    audio=path,
                    text=" ".join(w.word for w in words),
                    family=name,
                    kind="recorded",
                    ending="unknown",
                    extra={"recording": name, "speaker": speaker, "source_start": round(lo, 3)},
                )
            )
        log.info("%s: %d turns so far", name, len(turns))
    return turns, dropped


def monologue_turns(files: Sequence[Path], out: Path, rule: TurnRule, model: Any) -> list[Turn]:
    """One turn per recording: all of it, followed by the rule's silence (its room tone); it ends at its last
    word."""
    turns = []
    for wav in files:
        audio = load_mono(wav)
        clip = np.r_[audio, room_tone(audio, rule.tail_s)]
        path = _write_clip(out / "audio" / f"{wav.stem}.flac", clip)
        words = _recognised(path, model, len(audio) / SAMPLE_RATE)
        if is_hallucination(words):
            raise UserInputError(f"no speech recognised in {wav}", "pass recordings of English speech")
        turns.append(
            Turn(
                id=wav.stem,
                words=words,
                end=words[-1].end,
                audio=path,
                text=" ".join(w.word for w in words),
                family=wav.stem,
                kind="recorded",
                ending="unknown",
                extra={"recording": wav.stem},
            )
        )
    return turns


ROOM_FRAME_S = 0.04  # room tone is overlap-added from frames this long
QUIET_SHARE = 0.1  # ... the quietest this share of the recording's frames


def room_tone(recording: np.ndarray, seconds: float) -> np.ndarray:
    """`seconds` of the recording's own background: its quietest frames (QUIET_SHARE of them by level, in time
    order) overlap-added with a periodic Hann window (half-overlapping, so the windows sum to one) and repeated as
    needed. Digital silence after a turn would tell a model where real turns end; a microphone never goes silent."""
    size = int(round(ROOM_FRAME_S * SAMPLE_RATE))
    hop = size // 2
    length = int(round(seconds * SAMPLE_RATE))
    if len(recording) < size or length == 0:
        return np.zeros(length, np.float32)
    starts = np.arange(0, len(recording) - size + 1, hop)
    frames = recording[starts[:, None] + np.arange(size)[None]]  # [F, size]
    level = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    quiet = frames[np.sort(np.argsort(level, kind="stable")[: max(1, int(len(frames) * QUIET_SHARE))])]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size)).astype(np.float32)
    out = np.zeros(length + size, np.float32)
    for j in range(length // hop + 1):
        out[j * hop : j * hop + size] += window * quiet[j % len(quiet)]
    return out[:length]


def _write_clip(path: Path, clip: np.ndarray) -> Path:
    with atomic_path(path) as tmp:
        sf.write(str(tmp), clip, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return path


def build_real_corpus(
    rttm: Sequence[str],
    monologues: Sequence[str],
    out: str | Path,
    *,
    audio_dir: str | None,
    rule: TurnRule,
    model_dir: str | None,
    compute_type: str,
    threads: int,
) -> dict[str, Any]:
    """Write the real-speech corpus folder; returns its manifest. `compute_type`: the recognizer's precision
    (CTranslate2's: "float32", "int8", ...)."""
    if not rttm and not monologues:
        raise UserInputError("nothing to do: no RTTM files and no monologues", "pass rttm=[...] or monologues=[...]")
    rttm_paths = [Path(r) for r in rttm]
    mono_paths = [Path(m) for m in monologues]
    for p in [*rttm_paths, *mono_paths]:
        if not p.is_file():
            raise UserInputError(f"{p} does not exist", "check the path (the shared recordings sit in ../shared/data)")
    from faster_whisper import WhisperModel

    from avatarlab.turn.transcribe import whisper_model_dir

    try:
        model = WhisperModel(whisper_model_dir(model_dir), device="cpu", compute_type=compute_type, cpu_threads=threads)
    except ValueError as e:
        raise UserInputError(f"the recognizer cannot run with compute_type={compute_type!r} ({e})",
                             "pass compute_type=float32 (or int8)") from e  # fmt: skip
    out = Path(out)
    conversations: list[Turn] = []
    dropped = {"hallucination": 0, "cut": 0}
    for r in rttm_paths:
        turns, lost = conversation_turns(r, Path(audio_dir) if audio_dir else r.parent, out, rule, model)
        conversations += turns
        for reason, count in lost.items():
            dropped[reason] += count
    manifest: dict[str, Any] = {
        "rule": rule.__dict__,
        "rttm": [str(p) for p in rttm_paths],
        "monologues": [str(p) for p in mono_paths],
        "dropped": dropped,
        "compute_type": compute_type,
    }
    if conversations:
        write_corpus(out / "conversations.jsonl", conversations)
        manifest["conversations"] = {
            "turns": len(conversations),
            "recordings": sorted({t.extra["recording"] for t in conversations}),
        }
    if mono_paths:
        mono = monologue_turns(mono_paths, out, rule, model)
        write_corpus(out / "monologues.jsonl", mono)
        manifest["monologues_turns"] = len(mono)
    save_json(out / "manifest.json", manifest)
    print(
        f"wrote {len(conversations)} conversation turns ({dropped['hallucination']} dropped as silence"
        f" hallucinations, {dropped['cut']} cut by the recording's end) and {len(mono_paths)} monologues to {out}/"
    )
    return manifest


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="turn_real")
def main(cfg: DictConfig) -> None:
    def action() -> dict[str, Any]:
        rule = TurnRule(
            **{k: checked(f"rule.{k}", v, float, minimum=0.0) for k, v in OmegaConf.to_container(cfg.rule).items()}
        )
        return build_real_corpus(
            list(cfg.rttm or []),
            list(cfg.monologues or []),
            cfg.out,
            audio_dir=cfg.audio_dir,
            rule=rule,
            model_dir=cfg.asr_model_dir,
            compute_type=checked("compute_type", cfg.compute_type, str),
            threads=checked("threads", cfg.threads, int, minimum=1),
        )

    run_cli(action)


if __name__ == "__main__":
    main()
