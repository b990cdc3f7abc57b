"""Pipecat's Smart Turn v3.2 (a real-speech end-of-turn model shipped in the `pipecat-ai` wheel) on this project's
real and generated turns.

    pip install --no-deps pipecat-ai==1.14.0   # the model file only (BSD-2-Clause)
    python experiments/turn/smart_turn_probe.py [--generated N]

Scores every tick (10 ms) of the real conversations, the real monologues and N generated test turns: the
calibration's silence and the model's probability that the turn is complete, run on the last 8 s of audio every
50 ms while at least 0.1 s of silence has passed (0 before). Caches the scores in outputs/smart_turn_probe and
prints, per corpus, the pooled end-of-turn AUC (words known when they end) of silence, of the model gated by
silence, and the highest probability any pause inside a turn reaches after 0.2 s of silence beside the ends'.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.ensemble import HistGradientBoostingClassifier
from transformers import WhisperFeatureExtractor

from avatarlab.spec.stream import TICK_RATE
from avatarlab.turn.end_calibration import CALIBRATION_INPUTS
from avatarlab.turn.evaluate import load_predictor, read_turns
from avatarlab.turn.metrics import roc_auc
from avatarlab.turn.replay import hear_offline
from avatarlab.turn.tables import load_turn_audio

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "bundles/turn_quickstart_neural"
CACHE = ROOT / "outputs/smart_turn_probe"
CORPORA = {
    "real": ROOT / "datasets/turn_real/conversations.jsonl",
    "monologues": ROOT / "datasets/turn_real/monologues.jsonl",
    "test": ROOT / "datasets/turn_corpus/test.jsonl",
}
RATE, WINDOW_S, GRID = 16000, 8, 5  # the model's 8 s window; every 5 ticks (50 ms)
MIN_SILENCE_S = 0.1


class SmartTurn:
    """The bundled Smart Turn v3.2 CPU model: P(turn complete) from the last 8 s of 16 kHz audio."""

    def __init__(self) -> None:
        try:
            wheel = importlib.metadata.distribution("pipecat-ai")
        except importlib.metadata.PackageNotFoundError:
            raise SystemExit("pipecat-ai is not installed: pip install --no-deps pipecat-ai==1.14.0") from None
        path = wheel.locate_file("pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
        self.session = ort.InferenceSession(str(path), sess_options=options)
        self.features = WhisperFeatureExtractor(chunk_length=WINDOW_S)

    def __call__(self, windows: list[np.ndarray]) -> np.ndarray:
        n = WINDOW_S * RATE
        padded = [np.pad(w[-n:], (n - len(w[-n:]), 0)) for w in windows]  # zeros before, as the model trained
        mel = self.features(padded, sampling_rate=RATE, return_tensors="np", do_normalize=True).input_features
        return self.session.run(None, {"input_features": mel.astype(np.float32)})[0][:, 0]


def score(name: str, limit: int | None, model: SmartTurn) -> dict[str, np.ndarray]:
    cache = CACHE / f"{name}_{limit}.npz"
    if cache.is_file():
        return dict(np.load(cache))
    predictor, embeddings, _ = load_predictor(BASE, CORPORA[name].parent, {}, voice=True)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("silence", "smart", "done", "turn", "recording")}
    for i, turn in enumerate(read_turns(CORPORA[name], limit)):
        audio = load_turn_audio(turn, RATE)
        steps, known = hear_offline(predictor, turn, audio, 2.0, 0.0)
        steps, known = steps[known > 0], known[known > 0]
        silence = predictor.end_inputs(steps, known)[:, CALIBRATION_INPUTS.index("silence")]
        smart = np.zeros(len(steps))
        grid = np.flatnonzero((silence >= MIN_SILENCE_S) & (steps % GRID == 0))
        for chunk in np.array_split(grid, max(1, len(grid) // 16)):
            if len(chunk):
                smart[chunk] = model([audio[: steps[j] * RATE // TICK_RATE] for j in chunk])
        held = np.maximum.accumulate(np.where(smart > 0, np.arange(len(steps)), 0))  # the last value computed
        smart = np.where(silence >= MIN_SILENCE_S, smart[held], 0.0)
        parts["silence"].append(silence)
        parts["smart"].append(smart)
        parts["done"].append(known == len(turn.words))
        parts["turn"].append(np.full(len(steps), i))
        parts["recording"].append(np.full(len(steps), turn.extra.get("recording") or turn.family, dtype=object))
        print(f"{name} {i}: {len(grid)} windows", flush=True)
    embeddings.save()
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["recording"] = out["recording"].astype(str)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def report(name: str, t: dict[str, np.ndarray]) -> None:
    gated = np.where(t["silence"] >= 0.2, t["smart"], 0.0)
    pauses = (~t["done"]) & (t["silence"] >= 0.2)
    ends = t["done"] & (t["silence"] >= 0.2) & (t["silence"] < 0.3)
    stats = {
        "silence AUC": roc_auc(t["silence"], t["done"]),
        "silence + smart AUC": roc_auc(t["silence"] + gated, t["done"]),
        "max smart in a pause": float(t["smart"][pauses].max()) if pauses.any() else float("nan"),
        "ends' smart at 0.2-0.3 s (median)": float(np.median(t["smart"][ends])) if ends.any() else float("nan"),
    }
    turns = np.unique(t["turn"])
    per_turn = [float(t["smart"][pauses & (t["turn"] == k)].max(initial=0)) for k in turns]
    print(name, json.dumps({k: round(v, 3) for k, v in stats.items()}))
    print("   highest smart in each turn's pauses:", [round(v, 2) for v in per_turn])
    print(
        "   smart at each turn's end after 0.2 s:",
        [round(float(t["smart"][ends & (t["turn"] == k)][:1].max(initial=-1)), 2) for k in turns],
    )


def left_out_auc(t: dict[str, np.ndarray], seed: int = 0) -> tuple[float, float, float]:
    """Pooled end AUC of silence and the model together, each recording scored by monotone boosted trees fitted on
    the others, with a bootstrap 95% interval over turns."""
    x, y, score = np.stack([t["silence"], t["smart"]], 1), t["done"], np.zeros(len(t["done"]))
    for name in np.unique(t["recording"]):
        out = t["recording"] == name
        trees = HistGradientBoostingClassifier(max_depth=2, max_iter=100, monotonic_cst=[1, 1], random_state=seed)
        score[out] = trees.fit(x[~out], y[~out]).predict_proba(x[out])[:, 1]
    rng, turns = np.random.default_rng(seed), np.unique(t["turn"])
    rows = [np.flatnonzero(t["turn"] == k) for k in turns]
    draws = []
    for _ in range(1000):
        pick = np.concatenate([rows[k] for k in rng.integers(0, len(turns), len(turns))])
        draws.append(roc_auc(score[pick], y[pick]))
    return roc_auc(score, y), *np.percentile(draws, [2.5, 97.5])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generated", type=int, default=100)
    args = parser.parse_args()
    model = SmartTurn()
    for name, limit in (("real", None), ("monologues", None), ("test", args.generated)):
        ticks = score(name, limit, model)
        report(name, ticks)
        if name == "real":
            auc, low, high = left_out_auc(ticks)
            print(
                f"   silence and the model, trees fitted without the recording: AUC {auc:.3f} [{low:.3f}, {high:.3f}]"
            )


if __name__ == "__main__":
    main()
