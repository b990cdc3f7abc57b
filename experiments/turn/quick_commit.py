"""Could a sure end be answered before the 0.7 s commit floor? A quick commit tried against real speech.

    python experiments/turn/quick_commit.py [--generated N]

Scores every heard tick (words known 0, 0.2 and 0.4 s after they end) of the real conversations, the real
monologues and N generated turns of the validation and held-out test families with the demo's calibrated bundle:
its p_end and the neural end head's own p_end (the uncalibrated bundle's). A quick commit comes at the first tick
with at least 0.2 s of silence, before the floor, where p_end is above the highest any real conversation turn
reached in its pauses there and the end head at least as sure as `--head`; the floor's own rule applies after.
Prints, per head threshold: the generated test turns answered quickly, the median commit latency and the cut-ins
(words 0.2 s late), and the real monologues cut in (they are not used to choose anything).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from avatarlab.turn.end_calibration import CALIBRATION_INPUTS, EndCalibration
from avatarlab.turn.evaluate import load_predictor, read_turns
from avatarlab.turn.replay import hear_offline
from avatarlab.turn.tables import load_turn_audio

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "bundles/turn_quickstart_neural"
CALIBRATED = ROOT / "bundles/turn_quickstart"
CACHE = ROOT / "outputs/quick_commit"
DELAYS = (0.0, 0.2, 0.4)
QUICK_S = 0.2
HEADS = (0.0, 0.9, 0.95, 0.99)


def scored(path: Path, limit: int | None) -> dict[str, np.ndarray]:
    """Every heard tick of a corpus's first `limit` turns at every delay: the calibration's inputs `x`, the end
    head's p_end `head`, `done` (every word known), `hearing` and `delay` (kept in CACHE for the next run)."""
    cache = CACHE / f"{path.stem}_{limit}.npz"
    if cache.is_file():
        return dict(np.load(cache))
    predictor, embeddings, _ = load_predictor(BASE, path.parent, {}, voice=True)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("x", "head", "done", "hearing", "delay")}
    for turn in read_turns(path, limit):
        audio = load_turn_audio(turn, predictor.spec.prosody.sample_rate)
        for delay in DELAYS:
            steps, known = hear_offline(predictor, turn, audio, 2.0, delay)
            steps, known = steps[known > 0], known[known > 0]
            parts["x"].append(predictor.end_inputs(steps, known))
            parts["head"].append(predictor.end_probabilities(steps, known))  # no calibration: the end head's
            parts["done"].append(known == len(turn.words))
            parts["hearing"].append(np.full(len(steps), len(parts["delay"])))
            parts["delay"].append(np.full(len(steps), delay))
    embeddings.save()
    out = {k: np.concatenate(v) for k, v in parts.items()}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def outcomes(ticks: dict[str, np.ndarray], fires: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per hearing: cut in, answered before the floor, and the silence at commit (NaN: cut in, or never)."""
    silence = ticks["x"][:, CALIBRATION_INPUTS.index("silence")]
    hearings = np.unique(ticks["hearing"])
    cut, quick, latency = np.zeros(len(hearings), bool), np.zeros(len(hearings), bool), np.full(len(hearings), np.nan)
    for i, h in enumerate(hearings):
        hits = np.flatnonzero((ticks["hearing"] == h) & fires)
        if len(hits):
            cut[i] = not ticks["done"][hits[0]]
            latency[i] = np.nan if cut[i] else silence[hits[0]]
    quick = latency < 0.7
    return cut, quick, latency


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generated", type=int, default=200)
    args = parser.parse_args()
    manifest = json.loads((CALIBRATED / "manifest.json").read_text())
    calibration = EndCalibration.from_dict(manifest["config"]["end_calibration"])
    policy = manifest["config"]["policy"]
    floor, threshold = policy["min_silence_s"], policy["commit_threshold"]
    sets = {
        "real": scored(ROOT / "datasets/turn_real/conversations.jsonl", None),
        "monologues": scored(ROOT / "datasets/turn_real/monologues.jsonl", None),
        "test": scored(ROOT / "datasets/turn_corpus/test.jsonl", args.generated),
    }
    for ticks in sets.values():
        ticks["p"] = calibration.probability(ticks["x"])
        ticks["silence"] = ticks["x"][:, CALIBRATION_INPUTS.index("silence")]
    real = sets["real"]
    pauses = ~real["done"] & (real["silence"] >= QUICK_S) & (real["silence"] < floor)
    above = float(real["p"][pauses].max())
    print(f"the highest p_end in a real conversation's pause between {QUICK_S} s and the {floor} s floor: {above:.3f}")
    for head in (None, *HEADS):
        rows = []
        for name in ("test", "monologues"):
            t = sets[name]
            fires = ((t["silence"] >= floor) & (t["p"] >= threshold)) | (t["silence"] >= policy["max_silence_s"])
            if head is not None:
                fires |= (t["silence"] >= QUICK_S) & (t["p"] > above) & (t["head"] >= head)
            at = t["delay"] == 0.2 if name == "test" else np.ones(len(t["delay"]), bool)
            cut, quick, latency = outcomes({k: v[at] for k, v in t.items()}, fires[at])
            rows.append((cut, quick, latency))
        (cut, quick, latency), (mono_cut, _, _) = rows
        label = "the floor alone" if head is None else f"quick, end head >= {head:.2f}"
        print(
            f"{label:26s} generated: quick {quick.mean():4.0%}, median {1000 * np.nanmedian(latency):4.0f} ms, "
            f"cut in {cut.mean():5.1%}; real monologues cut in at {mono_cut.sum()} of {len(mono_cut)} hearings"
        )


if __name__ == "__main__":
    main()
