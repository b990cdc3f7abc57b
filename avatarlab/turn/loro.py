"""`python -m avatarlab.turn.loro [real=FILE.jsonl] [out=DIR]`: the turn predictor on real speech, leave one
recording out.

For each recording of the real corpus (`python -m avatarlab.turn.real`): fit the base bundle's end calibration
(`avatarlab.turn.calibrate`) on the generated validation turns plus the real turns of every other recording,
and replay the held-out recording's turns through it. Nothing about the held-out recording informs its fold's
calibration or thresholds. The test sets are pooled into one report (the files `avatarlab.turn.evaluate`
writes), beside the same figures of the base bundle (`base`: no real speech), which needs no folds.

Each fold's bundle stays in OUT/folds/RECORDING/; an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from avatarlab.atomic import save_json
from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.errors import UserInputError
from avatarlab.hashing import sha256_file
from avatarlab.turn.calibrate import CalibrationRows, CalibrationSetup, calibrate, calibration_rows, calibration_setup
from avatarlab.turn.evaluate import figures, load_predictor, make_policies, read_turns, replay_turns, write_report
from avatarlab.turn.format import Turn, write_corpus
from avatarlab.turn.replay import Trace

log = logging.getLogger(__name__)


def recording_of(turn: Turn) -> str:
    """The recording a real turn was cut from (its `recording` field, else its family)."""
    return str(turn.extra.get("recording") or turn.family or turn.id)


def calibrate_fold(
    fold_dir: Path,
    base_bundle: str | Path,
    train_turns: list[Turn],
    real_dir: Path,
    setup: CalibrationSetup,
    word_delays: Sequence[float],
    tail_s: float,
    generated_rows: Callable[[], CalibrationRows],
) -> Path:
    """Calibrate one fold's bundle (skipped when it exists, made by the same calibration of the same base bundle
    on the same turns); returns the bundle folder."""
    bundle, key_file = fold_dir / "bundle", fold_dir / "calibration.json"
    key = fold_key(base_bundle, train_turns, setup, word_delays, tail_s)
    if (bundle / "manifest.json").is_file() and key_file.is_file() and json.loads(key_file.read_text()) == key:
        print(f"    {bundle} exists: fold already calibrated", flush=True)
        return bundle
    write_corpus(fold_dir / "train.jsonl", train_turns)
    calibrate(
        base_bundle,
        bundle,
        setup,
        real=train_turns,
        real_dir=real_dir,
        word_delays=word_delays,
        tail_s=tail_s,
        generated_rows=generated_rows(),
    )
    save_json(key_file, key)
    return bundle


def fold_key(
    base_bundle: str | Path,
    train_turns: list[Turn],
    setup: CalibrationSetup,
    word_delays: Sequence[float],
    tail_s: float,
) -> dict[str, Any]:
    """What a fold's calibration depends on, JSON-comparable: a fold bundle made with another is made again."""
    options = {f.name: getattr(setup, f.name) for f in fields(setup) if f.name not in ("generated", "generated_dir")}
    return json.loads(
        json.dumps(
            {
                **options,  # every calibration option, the ones added later included
                "options": asdict(setup.options),
                "generated_turns": [t.id for t in setup.generated],
                "base_manifest_sha256": sha256_file(Path(base_bundle) / "manifest.json"),
                "train_turns": [t.id for t in train_turns],
                "word_delays": [float(d) for d in word_delays],
                "tail_s": float(tail_s),
            }
        )
    )


def replay_with(
    bundle: str | Path,
    turns: list[Turn],
    corpus_dir: Path,
    policy: dict[str, Any],
    silence_timeout_s: float,
    tail_s: float,
    word_delays: Sequence[float],
) -> tuple[list[list[Trace]], dict[str, Any]]:
    """`turns` replayed through a bundle's predictor and both baselines at each delay, and its thresholds."""
    predictor, cache, thresholds = load_predictor(bundle, corpus_dir, policy)
    policies = make_policies(thresholds, silence_timeout_s)
    traces = replay_turns(predictor, policies, turns, tail_s=tail_s, word_delays=word_delays, streaming=False)
    cache.save()
    return traces, thresholds


def leave_one_recording_out(
    real: str | Path,
    out: str | Path,
    *,
    base_bundle: str | Path,
    setup: CalibrationSetup,
    policy: dict[str, Any],
    silence_timeout_s: float,
    tail_s: float,
    word_delays: Sequence[float],
    llm_first_words_s: float,
    bootstrap: int,
) -> dict[str, Any]:
    """Calibrate, replay and pool every fold; write OUT/pooled/ and OUT/base/ reports; return both results."""
    real = Path(real)
    turns = read_turns(real)
    recordings = sorted({recording_of(t) for t in turns})
    if len(recordings) < 2:
        raise UserInputError(
            f"{real} holds turns of {len(recordings)} recording(s)", "leave-one-out needs at least two recordings"
        )
    out = Path(out)
    started = time.perf_counter()
    pooled: list[list[Trace]] = [[] for _ in word_delays]
    thresholds: dict[str, Any] = {}
    folds = []
    rows: list[CalibrationRows] = []

    def generated_rows() -> CalibrationRows:  # the same for every fold: computed once
        if not rows:
            rows.append(calibration_rows(base_bundle, setup.generated, setup.generated_dir, word_delays, tail_s))
        return rows[0]

    for i, held_out in enumerate(recordings, 1):
        test = [t for t in turns if recording_of(t) == held_out]
        train = [t for t in turns if recording_of(t) != held_out]
        print(f"\n[fold {i}/{len(recordings)}] held out: {held_out} ({len(test)} turns; {len(train)} to fit on)")
        fold_dir = out / "folds" / held_out
        bundle = calibrate_fold(fold_dir, base_bundle, train, real.parent, setup, word_delays, tail_s, generated_rows)
        traces, thresholds = replay_with(bundle, test, real.parent, policy, silence_timeout_s, tail_s, word_delays)
        for pool, fold_traces in zip(pooled, traces):
            pool.extend(fold_traces)
        folds.append({"recording": held_out, "turns": len(test), "bundle": str(bundle)})
    options = {"silence_timeout_s": silence_timeout_s, "llm_first_words_s": llm_first_words_s, "bootstrap": bootstrap}
    results = {
        "corpus": str(real),
        "turns": len(turns),
        "recordings": recordings,
        "folds": folds,
        "base_bundle": str(base_bundle),
        "calibration": {
            "generated_turns": len(setup.generated),
            "generated_weight": setup.generated_weight,
            "min_silence_s": setup.min_silence_s,
        },
        "policy": thresholds,
        "seconds": round(time.perf_counter() - started, 1),
        "by_delay": figures(pooled, word_delays, thresholds, **options),
    }
    text = write_report(out / "pooled", results, pooled)
    print(f"\nleave one recording out, {len(recordings)} folds pooled ({len(turns)} turns):\n\n{text}")

    base_traces, base_thresholds = replay_with(
        base_bundle, turns, real.parent, policy, silence_timeout_s, tail_s, word_delays
    )
    base = {
        "corpus": str(real),
        "bundle": str(base_bundle),
        "turns": len(turns),
        "policy": base_thresholds,
        "by_delay": figures(base_traces, word_delays, base_thresholds, **options),
    }
    text = write_report(out / "base", base, base_traces)
    print(f"\nthe same turns through {base_bundle} (no real speech):\n\n{text}")
    print(f"\nreports in {out}/pooled and {out}/base")
    return {"pooled": results, "base": base}


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="turn_loro")
def main(cfg: DictConfig) -> None:
    chosen: dict[str, Any] = OmegaConf.to_container(cfg.policy, resolve=True) or {}  # type: ignore[assignment]

    def action() -> dict[str, Any]:
        delays = cfg.word_delay_s if OmegaConf.is_list(cfg.word_delay_s) else [cfg.word_delay_s]
        return leave_one_recording_out(
            cfg.real,
            cfg.out,
            base_bundle=cfg.base_bundle,
            setup=calibration_setup(cfg.calibration),
            policy={k: checked(f"policy.{k}", v, float, minimum=0.0) for k, v in chosen.items()},
            silence_timeout_s=checked("silence_timeout_s", cfg.silence_timeout_s, float, above=0.0),
            tail_s=checked("tail_s", cfg.tail_s, float, minimum=0.0),
            word_delays=[checked("word_delay_s", d, float, minimum=0.0) for d in delays],
            llm_first_words_s=checked("llm_first_words_s", cfg.llm_first_words_s, float, minimum=0.0),
            bootstrap=checked("bootstrap", cfg.bootstrap, int, minimum=1),
        )

    run_cli(action)


if __name__ == "__main__":
    main()
