"""`python -m avatarlab.turn.calibrate bundle=IN out=OUT [real=FILE.jsonl]`: fit a bundle's end calibration.

Every turn (real recordings when given, generated turns always) is replayed at each word delay; each tick
after its first known word becomes one row of the calibration's inputs (silence, voice activity, the open
newest word, the end head's word evidence), labelled 1 once every word of the turn is known. The generated
rows weigh `generated_weight` times as much as the real ones in all. The trees are written into a copy of
the bundle with the commit threshold that goes with them: the lowest at which the response policy, committing
after at least `min_silence_s` of silence, cuts in on at most `max_false_cut_in` of the generated turns'
hearings. The neural heads are unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.errors import UserInputError
from avatarlab.export.bundle import write_bundle
from avatarlab.runtime.bundle import read_bundle
from avatarlab.runtime.turn_predictor import TURN_BUNDLE_KIND
from avatarlab.turn.end_calibration import CALIBRATION_INPUTS, CalibrationOptions, EndCalibration, fit_end_calibration
from avatarlab.turn.evaluate import load_predictor, read_turns
from avatarlab.turn.format import Turn
from avatarlab.turn.replay import hear_offline
from avatarlab.turn.tables import load_turn_audio

log = logging.getLogger(__name__)


@dataclass
class CalibrationRows:
    """Every heard tick of some turns, each turn heard once per word delay (a "hearing")."""

    x: np.ndarray  # [S, len(CALIBRATION_INPUTS)] the calibration's inputs
    y: np.ndarray  # [S] 1 once every word of the turn is known
    hearing: np.ndarray  # [S] which hearing the tick belongs to (0, 1, ...)
    delay: np.ndarray  # [S] the word delay of that hearing (s)

    def at_delay(self, delay: float) -> CalibrationRows:
        keep = self.delay == delay
        return CalibrationRows(self.x[keep], self.y[keep], self.hearing[keep], self.delay[keep])

    @classmethod
    def concatenate(cls, parts: Sequence[CalibrationRows]) -> CalibrationRows:
        offsets = np.cumsum([0] + [int(p.hearing.max()) + 1 if len(p.hearing) else 0 for p in parts])
        return cls(
            np.concatenate([p.x for p in parts]),
            np.concatenate([p.y for p in parts]),
            np.concatenate([p.hearing + o for p, o in zip(parts, offsets)]),
            np.concatenate([p.delay for p in parts]),
        )


def calibration_rows(
    bundle: str | Path, turns: list[Turn], corpus_dir: Path, word_delays: Sequence[float], tail_s: float
) -> CalibrationRows:
    """The calibration's rows of every heard tick of `turns` at every delay."""
    predictor, cache, _ = load_predictor(bundle, corpus_dir, {}, voice=True)
    xs, ys, hearings, delays = [], [], [], []
    for turn in turns:
        audio = load_turn_audio(turn, predictor.spec.prosody.sample_rate)
        for delay in word_delays:
            steps, known = hear_offline(predictor, turn, audio, tail_s, delay)
            heard = known > 0
            xs.append(predictor.end_inputs(steps[heard], known[heard]))
            ys.append(known[heard] == len(turn.words))
            hearings.append(np.full(int(heard.sum()), len(hearings)))
            delays.append(np.full(int(heard.sum()), delay))
    cache.save()
    return CalibrationRows(*(np.concatenate(a) for a in (xs, ys, hearings, delays)))


def per_hearing_max(rows: CalibrationRows, values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """[hearings] the largest of `values` [S] at each hearing's ticks where `where` [S] holds (-inf: none)."""
    _, hearing = np.unique(rows.hearing, return_inverse=True)  # [S] 0 .. n-1
    out = np.full(int(hearing.max()) + 1 if len(hearing) else 0, -np.inf)
    np.maximum.at(out, hearing[where], values[where])
    return out


def longest_pauses(rows: CalibrationRows) -> np.ndarray:
    """[hearings] the longest silence (s) inside each hearing's turn: at ticks while words were still to come."""
    silence = rows.x[:, CALIBRATION_INPUTS.index("silence")]
    return np.maximum(per_hearing_max(rows, silence, ~rows.y.astype(bool)), 0.0)


def commit_threshold_for(
    p_end: np.ndarray, rows: CalibrationRows, max_false_cut_in: float, min_silence_s: float, max_silence_s: float
) -> float:
    """The lowest commit threshold at which the response policy cuts in on at most `max_false_cut_in` of the
    hearings at every word delay: it commits at the first tick with p_end at or above it after `min_silence_s`
    of silence, or after `max_silence_s` of silence whatever p_end says."""
    if len(np.unique(rows.delay)) > 1:
        return max(
            commit_threshold_for(
                p_end[rows.delay == d], rows.at_delay(d), max_false_cut_in, min_silence_s, max_silence_s
            )
            for d in np.unique(rows.delay)
        )
    silence = rows.x[:, CALIBRATION_INPUTS.index("silence")]
    early = ~rows.y.astype(bool)
    highest = per_hearing_max(rows, p_end, early & (silence >= min_silence_s))  # p_end while words were to come
    timed_out = per_hearing_max(rows, silence, early) >= max_silence_s
    n = len(highest)
    allowed = int(np.floor(max_false_cut_in * n + 1e-9)) - int(timed_out.sum())
    ranked = np.sort(highest[~timed_out])[::-1]  # the threshold must exceed all but `allowed` of these
    if allowed >= len(ranked):
        return float(np.nextafter(0.0, 1.0))
    above = ranked[max(allowed, 0)]
    return float(min(np.nextafter(max(above, 0.0), 1.0), np.nextafter(1.0, 0.0)))


def calibrate(
    bundle: str | Path,
    out: str | Path,
    setup: CalibrationSetup,
    *,
    real: Sequence[Turn],
    real_dir: Path | None,
    word_delays: Sequence[float],
    tail_s: float,
    generated_rows: CalibrationRows | None = None,
) -> tuple[Path, EndCalibration]:
    """Fit the calibration on `real` and the setup's generated turns and write the calibrated bundle to `out`.

    `generated_rows`: the generated turns' rows when already computed (leave-one-out reuses them per fold)."""
    generated, generated_dir, generated_weight = setup.generated, setup.generated_dir, setup.generated_weight
    if not generated:
        raise UserInputError("no generated turns to calibrate on", "pass generated=datasets/turn_corpus/val.jsonl")
    started = time.perf_counter()
    source = read_bundle(bundle, kind=TURN_BUNDLE_KIND)
    policy = dict(source.config.get("policy", {}))
    if setup.min_silence_s is not None:
        policy["min_silence_s"] = setup.min_silence_s
    gen = generated_rows or calibration_rows(bundle, list(generated), generated_dir, word_delays, tail_s)
    if real:
        own = calibration_rows(bundle, list(real), real_dir or generated_dir, word_delays, tail_s)
        pauses = longest_pauses(own.at_delay(min(word_delays)))
        log.info(
            "real turns: the longest pause inside a turn is %.2f / %.2f / %.2f s (median / 75%% / 90%%); "
            "longer than the %.2f s commit floor in %.0f%% of them",
            *np.percentile(pauses, [50, 75, 90]),
            policy["min_silence_s"],
            100 * np.mean(pauses > policy["min_silence_s"]),
        )
        rows = CalibrationRows.concatenate([own, gen])
        weight = np.concatenate([np.ones(len(own.y)), np.full(len(gen.y), generated_weight * len(own.y) / len(gen.y))])
    else:
        rows, weight = gen, np.ones(len(gen.y))
    x, y = rows.x, rows.y
    calibration = fit_end_calibration(x, y, weight, setup.options)
    p_gen = calibration.probability(gen.x)
    policy["commit_threshold"] = commit_threshold_for(
        p_gen, gen, setup.max_false_cut_in, policy["min_silence_s"], policy["max_silence_s"]
    )
    if real and setup.max_false_cut_in_real is not None:  # and at most this share of the real turns
        p_own = calibration.probability(own.x)
        policy["commit_threshold"] = max(
            policy["commit_threshold"],
            commit_threshold_for(
                p_own, own, setup.max_false_cut_in_real, policy["min_silence_s"], policy["max_silence_s"]
            ),
        )
    recordings = sorted({str(t.extra.get("recording") or t.family) for t in real})
    path = write_bundle(
        out,
        kind=TURN_BUNDLE_KIND,
        tensors=source.tensors,
        config={**source.config, "policy": policy, "end_calibration": calibration.to_dict()},
        feature_spec=source.feature_spec,
        metadata={
            **source.metadata,
            "calibration": {
                "source_bundle": str(Path(bundle).resolve()),
                "real_turns": len(real),
                "real_recordings": recordings,
                "generated_turns": len(generated),
                "generated_weight": generated_weight,
                "word_delays": list(word_delays),
                "ticks": int(len(y)),
                "trees": asdict(setup.options),
            },
        },
    )
    log.info(
        "end calibration: %d trees on %d ticks (%d real turns of %s, %d generated) in %.0f s -> %s",
        calibration.feature.shape[0],
        len(y),
        len(real),
        recordings or "no recording",
        len(generated),
        time.perf_counter() - started,
        path,
    )
    return path, calibration


@dataclass(kw_only=True)
class CalibrationSetup:
    """A `calibration` config node, checked, with its generated turns read."""

    generated: list[Turn]
    generated_dir: Path
    generated_weight: float
    max_false_cut_in: float
    max_false_cut_in_real: float | None
    min_silence_s: float | None  # the policy's silence before any commit (None: the bundle's)
    options: CalibrationOptions


def calibration_setup(node: Any) -> CalibrationSetup:
    """The `calibration` node of configs/turn_calibrate.yaml or turn_loro.yaml (configs/calibration/)."""
    try:
        options = hydra.utils.instantiate(node.trees, _convert_="all")
    except Exception as e:  # noqa: BLE001 - instantiate wraps every config error in its own types
        raise UserInputError(f"bad calibration.trees: {e}", "see configs/calibration/default.yaml") from e
    if options.max_depth < 1 or options.max_iter < 1 or options.min_samples_leaf < 1 or options.learning_rate <= 0:
        raise UserInputError(
            f"bad calibration.trees {options}", "max_depth, max_iter, min_samples_leaf >= 1 and learning_rate > 0"
        )
    generated_file = Path(node.generated)
    return CalibrationSetup(
        generated=read_turns(
            generated_file, checked("calibration.generated_limit", node.generated_limit, int, minimum=1)
        ),
        generated_dir=generated_file.parent,
        generated_weight=checked("calibration.generated_weight", node.generated_weight, float, above=0.0),
        max_false_cut_in=_share("calibration.max_false_cut_in", node.max_false_cut_in),
        max_false_cut_in_real=None
        if node.max_false_cut_in_real is None
        else _share("calibration.max_false_cut_in_real", node.max_false_cut_in_real),
        min_silence_s=None
        if node.min_silence_s is None
        else checked("calibration.min_silence_s", node.min_silence_s, float, minimum=0.0),
        options=options,
    )


def _share(name: str, value: Any) -> float:
    share = checked(name, value, float, minimum=0.0)
    if share >= 1.0:
        raise UserInputError(f"{name}={share} is not below 1", "pass a share, e.g. 0.02")
    return float(share)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="turn_calibrate")
def main(cfg: DictConfig) -> None:
    def action() -> Path:
        torch.set_num_threads(checked("threads", cfg.threads, int, minimum=1))
        setup = calibration_setup(cfg.calibration)
        real_file = Path(cfg.real) if cfg.real else None
        real = read_turns(real_file) if real_file else []
        delays = cfg.word_delay_s if OmegaConf.is_list(cfg.word_delay_s) else [cfg.word_delay_s]
        path, _ = calibrate(
            cfg.bundle,
            cfg.out,
            setup,
            real=real,
            real_dir=real_file.parent if real_file else None,
            word_delays=[checked("word_delay_s", d, float, minimum=0.0) for d in delays],
            tail_s=checked("tail_s", cfg.tail_s, float, minimum=0.0),
        )
        print(f"calibrated bundle: {path}")
        return path

    run_cli(action)


if __name__ == "__main__":
    main()
