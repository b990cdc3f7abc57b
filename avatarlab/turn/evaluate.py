"""`python -m avatarlab.turn.evaluate bundle=DIR corpus=FILE.jsonl [out=DIR]`: replay every turn in 10 ms
ticks through the exported predictor and the response policy, beside two baselines (a silence timeout;
reuse only on an identical transcript), once per word delay (0, 0.2 and 0.4 s by default). Writes
results.json, table.md, turns.csv, latency_hist.png and cutoff_curve.png (false cut-offs against the wait)."""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from avatarlab.atomic import atomic_path, save_json
from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.errors import UserInputError
from avatarlab.runtime.bundle import read_bundle
from avatarlab.runtime.response_policy import ExactReusePolicy, Policy, ResponsePolicy, SilencePolicy
from avatarlab.runtime.turn_predictor import TURN_BUNDLE_KIND, TurnPredictor
from avatarlab.turn.cutoff import CutoffRule, field_figures
from avatarlab.turn.embed import EmbeddingCache
from avatarlab.turn.format import Turn, read_corpus
from avatarlab.turn.replay import Trace, replay
from avatarlab.turn.report import cutoff_curves, delay_tables, latency_histogram, summarize
from avatarlab.turn.tables import load_turn_audio, make_embedding_cache

log = logging.getLogger(__name__)


def load_predictor(
    bundle: str | Path, corpus_dir: Path, policy: dict[str, Any], voice: bool = False
) -> tuple[TurnPredictor, EmbeddingCache, dict[str, Any]]:
    """The bundle's predictor reading the corpus folder's embedding cache (returned too, to be saved), and its
    policy thresholds with the non-None values of `policy` in place of the bundle's; `voice`: with the
    voice-activity track even without a calibration (to compute a calibration's inputs)."""
    probe = TurnPredictor.from_bundle(bundle, embed=lambda text: None)  # validates the bundle before the embedder loads
    cache = make_embedding_cache(corpus_dir, probe.spec)
    predictor = TurnPredictor(probe.model, probe.spec, cache, calibration=probe.calibration, voice=voice)
    chosen = {k: v for k, v in policy.items() if v is not None}
    thresholds = {**read_bundle(bundle, kind=TURN_BUNDLE_KIND).config.get("policy", {}), **chosen}
    make_policies(thresholds, 0.7)  # checks the thresholds
    return predictor, cache, thresholds


def make_policies(thresholds: dict[str, Any], silence_timeout_s: float) -> list[Policy]:
    """The predictor's policy and both baselines."""
    try:
        return [ResponsePolicy(**thresholds), ExactReusePolicy(**thresholds), SilencePolicy(silence_timeout_s)]
    except (TypeError, ValueError) as e:
        raise UserInputError(
            f"bad policy thresholds {thresholds}: {e}", "see configs/model/turn.yaml for the names and ranges"
        ) from e


def replay_turns(
    predictor: TurnPredictor,
    policies: list[Policy],
    turns: list[Turn],
    *,
    tail_s: float,
    word_delays: Sequence[float],
    streaming: bool,
) -> list[list[Trace]]:
    """Every turn replayed once per word delay: [delays][turns]."""
    started = time.perf_counter()
    audios = {turn.id: load_turn_audio(turn, predictor.spec.prosody.sample_rate) for turn in turns}
    by_delay = []
    for delay in word_delays:
        traces: list[Trace] = []
        for i, turn in enumerate(turns, 1):
            traces.append(replay(turn, audios[turn.id], predictor, policies, tail_s, delay, streaming))
            if i % 100 == 0:
                elapsed = time.perf_counter() - started
                log.info("words %.2f s late: replayed %d/%d turns (%.0f s)", delay, i, len(turns), elapsed)
        by_delay.append(traces)
    return by_delay


def figures(
    traces_by_delay: list[list[Trace]],
    word_delays: Sequence[float],
    thresholds: dict[str, Any],
    *,
    silence_timeout_s: float,
    llm_first_words_s: float,
    bootstrap: int,
) -> list[dict[str, Any]]:
    """Per word delay: the policy table's rows and the field's figures of the predictor and the silence baseline."""
    by_delay = []
    for delay, traces in zip(word_delays, traces_by_delay):
        rows = [
            summarize(traces, "predictor", llm_first_words_s),
            summarize(traces, "exact_reuse", llm_first_words_s),
            summarize(traces, "silence", llm_first_words_s, end_score="silence", end_threshold=silence_timeout_s),
        ]
        rows[2]["policy"] = f"silence_{int(round(silence_timeout_s * 1000))}ms"
        rule = CutoffRule(thresholds["commit_threshold"], thresholds["max_silence_s"])
        field = {
            "predictor": field_figures(traces, rule, "p_end", bootstrap=bootstrap),
            "silence": field_figures(traces, CutoffRule(), "silence", bootstrap=bootstrap),
        }
        by_delay.append({"word_delay_s": delay, "rows": rows, "field": field})
    return by_delay


def write_report(out: Path, results: dict[str, Any], traces_by_delay: list[list[Trace]]) -> str:
    """results.json, table.md, turns.csv, latency_hist.png and cutoff_curve.png in `out`; returns the table."""
    out.mkdir(parents=True, exist_ok=True)
    by_delay = results["by_delay"]
    text = delay_tables(by_delay)
    save_json(out / "results.json", results)
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text(text + "\n")
    _write_turns(out / "turns.csv", [d["word_delay_s"] for d in by_delay], traces_by_delay)
    latency_histogram(by_delay, out / "latency_hist.png")
    cutoff_curves(by_delay, out / "cutoff_curve.png")
    return text


def evaluate(
    bundle: str | Path,
    corpus: str | Path,
    out: str | Path,
    *,
    policy: dict[str, Any],
    silence_timeout_s: float,
    tail_s: float,
    word_delays: Sequence[float],
    llm_first_words_s: float,
    limit: int | None,
    streaming: bool,
    bootstrap: int,
) -> dict[str, Any]:
    """Replay the corpus once per word delay; return and write the figures of the predictor's policy and both
    baselines, and the field's end-of-turn figures (false cut-offs at fixed waits, with bootstrap intervals).

    `policy` overrides thresholds of the policy stored in the bundle (a None one keeps the bundle's); `limit`
    None replays every turn; `streaming` replays tick by tick through the live update path (same figures,
    slower)."""
    corpus = Path(corpus)
    turns = read_turns(corpus, limit)
    if not word_delays:
        raise UserInputError("word_delay_s is empty", "pass word_delay_s=[0,0.2,0.4] or one number")
    started = time.perf_counter()
    predictor, cache, thresholds = load_predictor(bundle, corpus.parent, policy)
    policies = make_policies(thresholds, silence_timeout_s)
    traces_by_delay = replay_turns(
        predictor, policies, turns, tail_s=tail_s, word_delays=word_delays, streaming=streaming
    )
    cache.save()
    by_delay = figures(
        traces_by_delay,
        word_delays,
        thresholds,
        silence_timeout_s=silence_timeout_s,
        llm_first_words_s=llm_first_words_s,
        bootstrap=bootstrap,
    )
    results = {
        "bundle": str(bundle),
        "corpus": str(corpus),
        "turns": len(turns),
        "policy": thresholds,
        "silence_timeout_s": silence_timeout_s,
        "llm_first_words_s": llm_first_words_s,
        "streaming": streaming,
        "bootstrap": bootstrap,
        "seconds": round(time.perf_counter() - started, 1),
        "by_delay": by_delay,
    }
    text = write_report(Path(out), results, traces_by_delay)
    print(text)
    print(
        f"\n{len(turns)} turns replayed at {len(word_delays)} word delay(s) in {results['seconds']:.0f} s; figures in"
        f" {out}/ (results.json, table.md, turns.csv, latency_hist.png, cutoff_curve.png)"
    )
    return results


def read_turns(corpus: Path, limit: int | None = None) -> list[Turn]:
    """The corpus' turns (the first `limit`), each with audio."""
    turns = read_corpus(corpus, check_audio=True)
    if limit:
        turns = turns[: int(limit)]
    if any(t.audio is None for t in turns):
        raise UserInputError(
            f"{corpus}: every turn needs audio for the predictor's prosody",
            "add audio paths, or transcribe recordings with avatarlab.turn.transcribe",
        )
    return turns


def _write_turns(path: Path, delays: Sequence[float], traces_by_delay: list[list[Trace]]) -> None:
    names = list(traces_by_delay[0][0].outcomes) if traces_by_delay and traces_by_delay[0] else []
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(
                ["word_delay_s", "id", "family", "ending", "words", "pivot_word", "end_s"]
                + [f"{n}_{c}" for n in names for c in ("commit_s", "commit_words", "draft", "reuse")]
            )
            for delay, traces in zip(delays, traces_by_delay):
                for tr in traces:
                    t = tr.turn
                    row: list[Any] = [delay, t.id, t.family, t.ending, len(t.words), t.pivot_word, t.end]
                    for n in names:
                        o = tr.outcomes[n]
                        row += [o.commit_t, o.commit_words, o.draft, int(o.reuse)]
                    writer.writerow(row)


def _as_list(value: Any) -> list[Any]:
    """A number or a list of numbers from the command line, as a list."""
    if isinstance(value, (list, tuple)) or OmegaConf.is_list(value):
        return list(value)
    return [value]


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
            word_delays=[checked("word_delay_s", d, float, minimum=0.0) for d in _as_list(cfg.word_delay_s)],
            llm_first_words_s=checked("llm_first_words_s", cfg.llm_first_words_s, float, minimum=0.0),
            limit=checked("limit", cfg.limit, int, minimum=1),
            streaming=bool(cfg.streaming),
            bootstrap=checked("bootstrap", cfg.bootstrap, int, minimum=1),
        )

    run_cli(action)


if __name__ == "__main__":
    main()
