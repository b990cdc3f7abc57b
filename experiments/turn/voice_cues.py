"""Does the voice tell a pause inside a turn from the turn's end? Pitch and lengthening, on generated and real speech.

    python experiments/turn/voice_cues.py [--generated N]

For every word followed by a pause of at least 0.2 s inside a turn (negatives) and every turn's last word
(positives), by the recognizer's word times: the pitch movement over the last 250 ms of voicing before the word's
end (semitones, from librosa's pYIN), the pitch there against the turn's median (semitones), and the word's
duration per character against the turn's median (lengthening). Prints each cue's AUC (above 0.5: higher at ends;
below 0.5: lower at ends) per corpus.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from avatarlab.turn.metrics import roc_auc

ROOT = Path(__file__).resolve().parents[2]
CORPORA = {
    "generated (held-out families)": ROOT / "datasets/turn_corpus/test.jsonl",
    "real meetings": ROOT / "datasets/turn_real/conversations.jsonl",
    "real monologues": ROOT / "datasets/turn_real/monologues.jsonl",
}
HOP_S = 0.01
TAIL_S = 0.25
PAUSE_S = 0.2


def cues(turn: dict, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """[words, 3] (pitch movement, pitch level, lengthening) at the end of each word; [words] is the turn's last."""
    audio, rate = sf.read(folder / turn["audio"], dtype="float32", always_2d=True)
    audio = librosa.resample(audio.mean(axis=1), orig_sr=rate, target_sr=16000)
    f0, voiced, _ = librosa.pyin(audio, fmin=60, fmax=400, sr=16000, frame_length=640, hop_length=160)
    semis = 12 * np.log2(np.where(voiced, f0, np.nan) / 100.0)
    median = np.nanmedian(semis)
    words = turn["words"]
    per_char = np.array([(w["end"] - w["start"]) / max(1, len(w["word"].strip(".,?!"))) for w in words])
    out = []
    for w, pace in zip(words, per_char):
        stop = int(round(w["end"] / HOP_S))
        tail = semis[max(0, stop - int(TAIL_S / HOP_S)) : stop]
        tail = tail[np.isfinite(tail)]
        if len(tail) >= 4:
            movement = float(np.polyfit(np.arange(len(tail)) * HOP_S, tail, 1)[0] * TAIL_S)
            level = float(np.mean(tail[-5:]) - median)
        else:
            movement, level = 0.0, 0.0
        out.append((movement, level, pace / np.median(per_char)))
    return np.array(out), np.arange(len(words)) == len(words) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=150)
    args = parser.parse_args()
    print("| turns | ends / pauses | pitch movement | pitch level | lengthening |")
    print("|---|---|---|---|---|")
    for name, path in CORPORA.items():
        turns = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        turns = turns[: args.generated] if name.startswith("generated") else turns
        values, last, gap = [], [], []
        for turn in turns:
            v, is_last = cues(turn, path.parent)
            words = turn["words"]
            values.append(v)
            last.append(is_last)
            gap.append(np.r_[[b["start"] - a["end"] for a, b in zip(words, words[1:])], np.inf])
        values, last, gap = np.concatenate(values), np.concatenate(last), np.concatenate(gap)
        keep = last | (gap >= PAUSE_S)
        aucs = [roc_auc(values[keep, i], last[keep]) for i in range(3)]
        n = f"{int(last[keep].sum())} / {int((~last[keep]).sum())}"
        print(f"| {name}: {len(turns)} | {n} | " + " | ".join(f"{a:.2f}" for a in aucs) + " |")


if __name__ == "__main__":
    main()
