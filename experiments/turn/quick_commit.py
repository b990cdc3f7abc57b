"""Could a sure end be answered before the 0.7 s commit floor? A quick commit tried against real speech.

    python experiments/turn/quick_commit.py [--generated N]

Scores every heard tick (words known 0, 0.2 and 0.4 s after they end) of the real conversations, the real
monologues and N generated turns of the validation and held-out test families with the demo's calibrated bundle:
its p_end and the neural end head's own p_end (the uncalibrated bundle's). A quick commit comes at the first tick
with at least 0.2 s of silence, before the floor, where p_end is above the highest any real conversation turn
reached in its pauses there and the end head at least as sure as `--head`; the floor's own rule applies after.
Also two vetoes on the quick commit: the newest word drawn out (its duration per syllable against the turn's
earlier words, above a quantile of the generated validation turns' last words), and a turn longer than SPEECH_S.
Prints, per rule: the generated test turns answered quickly, the median commit latency and the cut-ins (words 0.2 s
late), the real conversations' cut-ins (the demo's calibration saw them) and the real monologues cut in (they are
not used to choose anything).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from avatarlab.turn.end_calibration import CALIBRATION_INPUTS, EndCalibration
from avatarlab.turn.evaluate import load_predictor, read_turns
from avatarlab.turn.features import WORD_NAMES
from avatarlab.turn.replay import hear_offline
from avatarlab.turn.tables import load_turn_audio

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "bundles/turn_quickstart_neural"
CALIBRATED = ROOT / "bundles/turn_quickstart"
CACHE = ROOT / "outputs/quick_commit"
DELAYS = (0.0, 0.2, 0.4)
QUICK_S = 0.2
HEADS = (0.0, 0.9, 0.95, 0.99)
LENGTHENING = WORD_NAMES.index("lengthening")
SPEECH_S = (4.0, 5.0)  # a quick commit only in turns that have spoken at most this long (generated: 90% <= 4.7 s)


def scored(path: Path, limit: int | None) -> dict[str, np.ndarray]:
    """Every heard tick of a corpus's first `limit` turns at every delay: the calibration's inputs `x`, the end
    head's p_end `head`, `done` (every word known), `hearing` and `delay` (kept in CACHE for the next run)."""
    cache = CACHE / f"{path.stem}_{limit}.npz"
    if cache.is_file():
        return dict(np.load(cache))
    predictor, embeddings, _ = load_predictor(BASE, path.parent, {}, voice=True)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("x", "head", "done", "hearing", "delay", "lengthening")}
    for turn in read_turns(path, limit):
        audio = load_turn_audio(turn, predictor.spec.prosody.sample_rate)
        for delay in DELAYS:
            steps, known = hear_offline(predictor, turn, audio, 2.0, delay)
            steps, known = steps[known > 0], known[known > 0]
            parts["x"].append(predictor.end_inputs(steps, known))
            parts["head"].append(predictor.end_probabilities(steps, known))  # no calibration: the end head's
            parts["done"].append(known == len(turn.words))
            parts["lengthening"].append(np.stack(predictor._word_feats)[known - 1, LENGTHENING])
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


def speech_so_far(hearing: np.ndarray, silence: np.ndarray) -> np.ndarray:
    """[ticks] seconds from a hearing's first tick to the start of the current silence (ticks are 10 ms)."""
    first = np.r_[0, np.flatnonzero(np.diff(hearing)) + 1]
    start = first[np.searchsorted(first, np.arange(len(hearing)), side="right") - 1]
    return (np.arange(len(hearing)) - start + 1) / 100.0 - silence


def report(
    label: str, sets: dict[str, dict[str, np.ndarray]], fires_for: Callable[[dict[str, np.ndarray]], np.ndarray]
) -> None:
    """One line: the generated test turns (words 0.2 s late), the real meetings and monologues (every delay)."""
    parts = []
    for name in ("test", "real", "monologues"):
        t = sets[name]
        at = t["delay"] == 0.2 if name == "test" else np.ones(len(t["delay"]), bool)
        cut, quick, latency = outcomes({k: v[at] for k, v in t.items()}, fires_for(t)[at])
        if name == "test":
            parts.append(
                f"generated: quick {quick.mean():4.0%}, median {1000 * np.nanmedian(latency):4.0f} ms, "
                f"cut in {cut.mean():5.1%}"
            )
        elif name == "real":
            parts.append(f"meetings: cut in {cut.mean():5.1%}, median {1000 * np.nanmedian(latency):4.0f} ms")
        else:
            parts.append(f"monologues cut in {cut.sum()} of {len(cut)}")
    print(f"{label:34s} " + "; ".join(parts))


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
        "val": scored(ROOT / "datasets/turn_corpus/val.jsonl", args.generated),
    }
    for ticks in sets.values():
        ticks["p"] = calibration.probability(ticks["x"])
        ticks["silence"] = ticks["x"][:, CALIBRATION_INPUTS.index("silence")]
        ticks["speech"] = speech_so_far(ticks["hearing"], ticks["silence"])
    real = sets["real"]
    pauses = ~real["done"] & (real["silence"] >= QUICK_S) & (real["silence"] < floor)
    above = float(real["p"][pauses].max())
    print(f"the highest p_end in a real conversation's pause between {QUICK_S} s and the {floor} s floor: {above:.3f}")
    val = sets["val"]
    ends = val["done"] & (val["silence"] >= QUICK_S) & (val["silence"] < QUICK_S + 0.02)
    bounds = {q: float(np.quantile(val["lengthening"][ends], q)) for q in (0.8, 0.9, 0.95)}
    print(
        "lengthening of the generated validation turns' last words, quantiles: "
        + ", ".join(f"{q:.2f}: {v:.2f}" for q, v in bounds.items())
    )

    def rule(
        head: float | None = None, p_above: float = -np.inf, longest: float = np.inf, most_s: float = np.inf
    ) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        """The floor's rule, and a quick commit when `head` is given (and every veto passes)."""

        def fires(t: dict[str, np.ndarray]) -> np.ndarray:
            out = ((t["silence"] >= floor) & (t["p"] >= threshold)) | (t["silence"] >= policy["max_silence_s"])
            if head is not None:
                quick = (t["silence"] >= QUICK_S) & (t["head"] >= head) & (t["p"] > p_above)
                out |= quick & (t["lengthening"] <= longest) & (t["speech"] <= most_s)
            return out

        return fires

    report("the floor alone", sets, rule())
    for head in HEADS:
        report(f"quick, p > real pauses, head >= {head:.2f}", sets, rule(head, p_above=above))
    for head in HEADS[1:]:
        report(f"quick, head >= {head:.2f}", sets, rule(head))
        for bound in bounds.values():
            report(f"quick, head >= {head:.2f}, lengthening <= {bound:.2f}", sets, rule(head, longest=bound))
        for most in SPEECH_S:
            report(f"quick, head >= {head:.2f}, turn <= {most:.0f} s", sets, rule(head, most_s=most))


if __name__ == "__main__":
    main()
