"""`python -m avatarlab.turn.evaluate bundle=DIR corpus=FILE.jsonl [out=DIR]`: replay every turn in 10 ms
ticks through the exported predictor and the response policy, beside two baselines (a silence timeout;
reuse only on an identical transcript). Writes results.json, table.md, turns.csv, latency_hist.png."""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from avatarlab.atomic import atomic_path, save_json
from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.errors import UserInputError
from avatarlab.runtime.bundle import read_bundle
from avatarlab.runtime.response_policy import ExactReusePolicy, ResponsePolicy, SilencePolicy
from avatarlab.runtime.turn_predictor import TURN_BUNDLE_KIND, TurnPredictor
from avatarlab.turn.format import read_corpus
from avatarlab.turn.replay import Trace, replay
from avatarlab.turn.report import latency_histogram, summarize, table
from avatarlab.turn.tables import load_turn_audio, make_embedding_cache

log = logging.getLogger(__name__)


def evaluate(
    bundle: str | Path,
    corpus: str | Path,
    out: str | Path,
    *,
    policy: dict[str, Any],
    silence_timeout_s: float,
    tail_s: float,
    word_delay_s: float,
    llm_first_words_s: float,
    limit: int | None,
    streaming: bool,
) -> dict[str, Any]:
    """Replay the corpus; return and write the figures of the predictor's policy and both baselines.

    `policy` overrides thresholds of the policy stored in the bundle (a None one keeps the bundle's); `limit`
    None replays every turn; `streaming` replays tick by tick through the live update path (same figures,
    slower)."""
    corpus = Path(corpus)
    turns = read_corpus(corpus, check_audio=True)
    if limit:
        turns = turns[: int(limit)]
    if any(t.audio is None for t in turns):
        raise UserInputError(
            f"{corpus}: every turn needs audio for the predictor's prosody",
            "add audio paths, or transcribe recordings with avatarlab.turn.transcribe",
        )
    started = time.perf_counter()
    probe = TurnPredictor.from_bundle(bundle, embed=lambda text: None)  # validates the bundle before the embedder loads
    cache = make_embedding_cache(corpus.parent, probe.spec)
    predictor = TurnPredictor(probe.model, probe.spec, cache)
    chosen = {k: v for k, v in policy.items() if v is not None}
    policy = {**read_bundle(bundle, kind=TURN_BUNDLE_KIND).config.get("policy", {}), **chosen}
    try:
        policies = [ResponsePolicy(**policy), ExactReusePolicy(**policy), SilencePolicy(silence_timeout_s)]
    except (TypeError, ValueError) as e:
        raise UserInputError(
            f"bad policy thresholds {policy}: {e}", "see configs/model/turn.yaml for the names and ranges"
        ) from e
    traces: list[Trace] = []
    for i, turn in enumerate(turns, 1):
        audio = load_turn_audio(turn, predictor.spec.prosody.sample_rate)
        traces.append(replay(turn, audio, predictor, policies, tail_s, word_delay_s, streaming))
        if i % 100 == 0:
            log.info("replayed %d/%d turns (%.0f s)", i, len(turns), time.perf_counter() - started)
            cache.save()
    cache.save()
    rows = [
        summarize(traces, "predictor", llm_first_words_s),
        summarize(traces, "exact_reuse", llm_first_words_s),
        summarize(traces, "silence", llm_first_words_s, end_score="silence", end_threshold=silence_timeout_s),
    ]
    rows[2]["policy"] = f"silence_{int(round(silence_timeout_s * 1000))}ms"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = table(rows)
    results = {
        "bundle": str(bundle),
        "corpus": str(corpus),
        "turns": len(turns),
        "policy": policy,
        "silence_timeout_s": silence_timeout_s,
        "word_delay_s": word_delay_s,
        "llm_first_words_s": llm_first_words_s,
        "streaming": streaming,
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    save_json(out / "results.json", results)
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text(text + "\n")
    _write_turns(out / "turns.csv", traces)
    latency_histogram(rows, out / "latency_hist.png")
    print(text)
    print(
        f"\n{len(turns)} turns replayed in {results['seconds']:.0f} s; figures in {out}/"
        " (results.json, table.md, turns.csv, latency_hist.png)"
    )
    return results


def _write_turns(path: Path, traces: list[Trace]) -> None:
    names = list(traces[0].outcomes) if traces else []
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(
                ["id", "family", "ending", "words", "pivot_word", "end_s"]
                + [f"{n}_{c}" for n in names for c in ("commit_s", "commit_words", "draft", "reuse")]
            )
            for tr in traces:
                t = tr.turn
                row: list[Any] = [t.id, t.family, t.ending, len(t.words), t.pivot_word, t.end]
                for n in names:
                    o = tr.outcomes[n]
                    row += [o.commit_t, o.commit_words, o.draft, int(o.reuse)]
                writer.writerow(row)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="turn_evaluate")
def main(cfg: DictConfig) -> None:
    chosen: dict[str, Any] = OmegaConf.to_container(cfg.policy, resolve=True) or {}  # type: ignore[assignment]

    def action() -> dict[str, Any]:
        torch.set_num_threads(checked("threads", cfg.threads, int, minimum=1))  # one is fastest for this model
        policy = {k: checked(f"policy.{k}", v, float, minimum=0.0) for k, v in chosen.items()}
        return evaluate(
            cfg.bundle,
            cfg.corpus,
            cfg.out,
            policy=policy,
            silence_timeout_s=checked("silence_timeout_s", cfg.silence_timeout_s, float, above=0.0),
            tail_s=checked("tail_s", cfg.tail_s, float, minimum=0.0),
            word_delay_s=checked("word_delay_s", cfg.word_delay_s, float, minimum=0.0),
            llm_first_words_s=checked("llm_first_words_s", cfg.llm_first_words_s, float, minimum=0.0),
            limit=checked("limit", cfg.limit, int, minimum=1),
            streaming=bool(cfg.streaming),
        )

    run_cli(action)


if __name__ == "__main__":
    main()
