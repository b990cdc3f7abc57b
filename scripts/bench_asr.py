"""Speed and word delays of the streaming recognizer, fed a recording in real time.

    python scripts/bench_asr.py [file=../shared/data/speech_english_60s.wav] [chunk_ms=100] [threads=0]
                                [out=asr_word_delays.json] [wer=1]

Chunks arrive at their stream times and one thread runs the stage, so a step slower than real time
delays the next ones. A word is known when the call that returns it returns: its delay is that time
minus the word's end (as the recognizer aligns it). Two setups: the recognizer alone (flushed only at
the end of the file), and the live loop's, where the VAD (configs/serve/vad/silero.yaml) runs on the same
chunks and thread and each end of speech calls flush(). A partial's delay: when the word was first seen,
with the text it ends with, as a partial. RTF counts the recognizer's compute alone. `out=` gets every
word's delays (the live setup's `word_delays_s` are what the turn evaluation replays with); `wer=1` also
transcribes the whole file with the same model (greedy) and scores the streamed words against it.
`threads=0` keeps the config's intra_threads.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from avatarlab.atomic import save_json  # noqa: E402
from avatarlab.cli import checked, key_value_options  # noqa: E402
from avatarlab.config_args import config_args, from_config  # noqa: E402
from avatarlab.errors import UserInputError, exit_with  # noqa: E402
from avatarlab.metrics.wer import word_error_rate  # noqa: E402
from avatarlab.runtime.asr import AsrUpdate, StreamingASR  # noqa: E402
from avatarlab.runtime.vad import SileroVAD  # noqa: E402
from avatarlab.turn.format import normalize_word  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ASR_CONFIG = "serve/asr/whisper.yaml"
VAD_CONFIG = "serve/vad/silero.yaml"
RATE = 16000
DEFAULTS = {
    "file": str(ROOT.parent / "shared" / "data" / "speech_english_60s.wav"),
    "chunk_ms": 100,
    "threads": 0,
    "out": "",
    "wer": 1,
}


@dataclass
class Run:
    """One pass: final words with when they were known, the recognizer's compute, each flush's cost."""

    words: list[dict[str, Any]] = field(default_factory=list)
    asr_s: float = 0.0
    flush_ms: list[float] = field(default_factory=list)
    seen: dict[tuple[int, str], float] = field(default_factory=dict)  # (position, word) -> first seen as partial

    def record(self, update: AsrUpdate, clock: float, by_flush: bool) -> None:
        for k, w in enumerate(update.partial, start=len(self.words) + len(update.final)):
            self.seen.setdefault((k, normalize_word(w.text)), clock)
        for w in update.final:
            partial_at = min(clock, self.seen.get((len(self.words), normalize_word(w.text)), clock))
            self.words.append(
                {
                    "word": w.text,
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "final_at": round(clock, 3),
                    "final_delay_s": round(clock - w.end, 3),
                    "partial_delay_s": round(partial_at - w.end, 3),
                    "by_flush": by_flush,
                }
            )


def simulate(asr: StreamingASR, vad: SileroVAD | None, audio: np.ndarray, chunk: int) -> Run:
    """Feed `audio` in real time: the clock waits for each chunk and advances by the compute spent."""
    asr.reset()
    if vad is not None:
        vad.reset()
    run, clock = Run(), 0.0

    def flush(clock: float) -> float:
        started = time.perf_counter()
        update = asr.flush()
        spent = time.perf_counter() - started
        run.asr_s += spent
        run.flush_ms.append(spent * 1000)
        run.record(update, clock + spent, by_flush=True)
        return clock + spent

    for i in range(0, len(audio), chunk):
        piece = audio[i : i + chunk]
        clock = max(clock, (i + len(piece)) / RATE)
        started = time.perf_counter()
        update = asr.accept(piece)
        spent = time.perf_counter() - started
        run.asr_s += spent
        clock += spent
        if update is not None:
            run.record(update, clock, by_flush=False)
        if vad is not None:
            started = time.perf_counter()
            ended = any(e.kind == "end" for e in vad.accept(piece).events)
            clock += time.perf_counter() - started
            if ended:
                clock = flush(clock)
    flush(max(clock, len(audio) / RATE))
    return run


def summary(run: Run, duration: float) -> dict[str, float]:
    final = np.array([w["final_delay_s"] for w in run.words])
    partial = np.array([w["partial_delay_s"] for w in run.words])
    return {
        "words": len(run.words),
        "rtf": run.asr_s / duration,
        "final_delay_median_s": float(np.median(final)),
        "final_delay_p90_s": float(np.percentile(final, 90)),
        "partial_delay_median_s": float(np.median(partial)),
        "partial_delay_p90_s": float(np.percentile(partial, 90)),
        "words_by_flush": sum(w["by_flush"] for w in run.words),
        "flush_ms_median": float(np.median(run.flush_ms)),
    }


def load(path: str) -> np.ndarray:
    if not Path(path).is_file():
        raise UserInputError(f"no recording at {path}", "pass file=PATH.wav (16 kHz)")
    audio, rate = sf.read(path, dtype="float32")
    if rate != RATE:
        raise UserInputError(f"{path} is {rate} Hz", f"pass a {RATE} Hz recording")
    return audio.mean(axis=1).astype(np.float32) if audio.ndim == 2 else audio


def main() -> None:
    try:
        args = key_value_options(sys.argv[1:], DEFAULTS)
        chunk = round(checked("chunk_ms", args["chunk_ms"], int, minimum=10) * RATE / 1000)
        threads = checked("threads", args["threads"], int, minimum=0)
        audio = load(args["file"])
    except UserInputError as error:
        exit_with(error)
    overrides = {"intra_threads": threads} if threads else {}
    asr: StreamingASR = from_config(ASR_CONFIG, **overrides)
    vad: SileroVAD = from_config(VAD_CONFIG)
    duration = len(audio) / RATE
    simulate(asr, None, audio[: 3 * RATE], chunk)  # warm-up: first calls allocate
    runs = {"asr alone": simulate(asr, None, audio, chunk), "asr + vad flush": simulate(asr, vad, audio, chunk)}
    cfg = config_args(ASR_CONFIG, **overrides)
    print(
        f"streaming ASR on {Path(args['file']).name} ({duration:.1f} s) in {args['chunk_ms']} ms chunks fed in "
        f"real time; step {cfg['step_s']} s, intra_threads {cfg['intra_threads']}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    header = ("setup", "words", "RTF", "final med", "final p90", "partial med", "partial p90", "by flush", "flush ms")
    print(f"{header[0]:<17}" + "".join(f"{h:>12}" for h in header[1:]))
    summaries: dict[str, dict[str, float]] = {}
    for name, run in runs.items():
        s = summaries[name] = summary(run, duration)
        cells = [f"{s['words']}", f"{s['rtf']:.3f}"]
        cells += [f"{s[k]:.2f} s" for k in ("final_delay_median_s", "final_delay_p90_s")]
        cells += [f"{s[k]:.2f} s" for k in ("partial_delay_median_s", "partial_delay_p90_s")]
        cells += [f"{s['words_by_flush']}", f"{s['flush_ms_median']:.0f}"]
        print(f"{name:<17}" + "".join(f"{c:>12}" for c in cells))
    print("delay: a word's end (as aligned) -> the stage returned it (final), or first showed it (partial)")
    if args["wer"]:
        segments, _ = asr.model.transcribe(audio, beam_size=1, language="en")
        reference = " ".join(s.text for s in segments)
        for name, run in runs.items():
            wer = summaries[name]["wer_vs_whole_file"] = word_error_rate(reference, [w["word"] for w in run.words])
            print(f"WER vs a whole-file transcribe() with the same model ({name}): {wer:.3f}")
    if args["out"]:
        save_json(
            args["out"],
            {
                "file": args["file"],
                "chunk_s": chunk / RATE,
                "asr": cfg,
                "summary": summaries,
                "word_delays_s": [w["final_delay_s"] for w in runs["asr + vad flush"].words],
                "words": {name: run.words for name, run in runs.items()},
            },
        )
        print(f"per-word delays written to {args['out']}")


if __name__ == "__main__":
    main()
