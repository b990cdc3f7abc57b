"""Per-update latency of the live turn predictor (features and model), tick by tick as in the live loop.

    python scripts/bench_turn.py [bundle=bundles/turn_quickstart] [corpus=datasets/turn_corpus/test.jsonl]
                                 [turns=30] [threads=1]

Each 10 ms tick pushes 10 ms of audio and calls update() with the live draft as reference; a tick at
which a word arrives also computes that word's features and prefix embedding (all-MiniLM-L6-v2, int8).
The bar: one update <= 10 ms on two cores.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from avatarlab.cli import checked, key_value_options  # noqa: E402
from avatarlab.errors import UserInputError, exit_with  # noqa: E402
from avatarlab.runtime.response_policy import ResponsePolicy  # noqa: E402
from avatarlab.runtime.turn_predictor import TurnPredictor  # noqa: E402
from avatarlab.turn.features import arrival_step  # noqa: E402
from avatarlab.turn.format import Turn, read_corpus  # noqa: E402
from avatarlab.turn.tables import load_turn_audio  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {
    "bundle": str(ROOT / "bundles" / "turn_quickstart"),
    "corpus": str(ROOT / "datasets" / "turn_corpus" / "test.jsonl"),
    "turns": 30,
    "threads": 1,
}
BAR_MS = 10.0


def timed_turn(
    predictor: TurnPredictor, policy: ResponsePolicy, turn: Turn, audio: np.ndarray
) -> tuple[list[float], list[float]]:
    """Replay one turn tick by tick; milliseconds of each update without and with a new word."""
    arrivals = [arrival_step(w.end) for w in turn.words]
    predictor.reset()
    policy.reset()
    ticks, words = [], []
    next_word = 0
    for step in range(1, min(len(audio) // 160, arrivals[-1] + 100) + 1):
        new_word = False
        start = time.perf_counter()
        predictor.push_audio(audio[(step - 1) * 160 : step * 160])
        while next_word < len(turn.words) and arrivals[next_word] <= step:
            w = turn.words[next_word]
            predictor.push_word(w.word, w.start, w.end)
            next_word += 1
            new_word = True
        predictor.set_reference(policy.draft)
        pred = predictor.update(step / 100)
        elapsed = (time.perf_counter() - start) * 1000
        policy.step(pred)
        (words if new_word else ticks).append(elapsed)
    return ticks, words


def bench(bundle: str, corpus: str, turns: int, threads: int) -> dict[str, np.ndarray]:
    torch.set_num_threads(threads)
    if not Path(bundle).is_dir():
        raise UserInputError(
            f"no turn bundle at {bundle}",
            "train and export one: python train.py experiment=turn_quickstart, then "
            "python -m avatarlab.export run=RUN_DIR out=bundles/turn_quickstart",
        )
    predictor = TurnPredictor.from_bundle(bundle)  # the live embedder: no cache
    policy = ResponsePolicy(**predictor_policy(bundle))
    chosen = read_corpus(corpus, check_audio=True)[:turns]
    audios = [load_turn_audio(t, predictor.spec.prosody.sample_rate) for t in chosen]
    timed_turn(predictor, policy, chosen[0], audios[0])  # warm-up: first calls compile and allocate
    tick_ms, word_ms = [], []
    for turn, audio in zip(chosen, audios):
        ticks, words = timed_turn(predictor, policy, turn, audio)
        tick_ms += ticks
        word_ms += words
    return {"tick": np.array(tick_ms), "word": np.array(word_ms)}


def predictor_policy(bundle: str) -> dict[str, float]:
    from avatarlab.runtime.bundle import read_bundle

    return dict(read_bundle(bundle, kind="turn").config.get("policy", {}))


def main() -> None:
    try:
        args = key_value_options(sys.argv[1:], DEFAULTS)
        results = bench(
            args["bundle"],
            args["corpus"],
            checked("turns", args["turns"], int, minimum=1),
            checked("threads", args["threads"], int, minimum=1),
        )
    except UserInputError as error:
        exit_with(error)
    every = np.concatenate([results["tick"], results["word"]])
    print(
        f"turn predictor, one update (features + model), torch threads={args['threads']}, {os.cpu_count()} cores, "
        f"{len(every)} updates over {args['turns']} turns"
    )
    print(f"{'update':<26}{'count':>7}{'median ms':>11}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, values in (
        ("tick (10 ms of audio)", results["tick"]),
        ("word arrival (+embedding)", results["word"]),
        ("all", every),
    ):
        print(
            f"{name:<26}{len(values):>7}{np.median(values):>11.2f}{np.percentile(values, 90):>9.2f}"
            f"{np.percentile(values, 99):>9.2f}{values.max():>9.2f}"
        )
    worst = float(np.percentile(results["word"], 99))
    verdict = "met" if worst <= BAR_MS else "NOT met"
    print(
        f"bar: one update <= {BAR_MS:.0f} ms -> {verdict} (p99 of word-arrival updates, the costliest: {worst:.2f} ms)"
    )


if __name__ == "__main__":
    main()
