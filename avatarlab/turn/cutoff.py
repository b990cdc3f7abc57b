"""The field's end-of-turn figures: false cut-offs at a fixed wait, the wait needed for a given rate, and
the end-of-turn AUC, each with a bootstrap 95% interval over turns.

A policy "at wait w" commits at the first tick with at least w seconds of silence at which it would commit:
the silence baseline at once, the predictor when p_end reaches its commit threshold (or when the silence
reaches its fallback `max_silence_s`). A false cut-off is a commit while words of the turn were still to come.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from avatarlab.turn.metrics import roc_auc
from avatarlab.turn.replay import Trace

WAITS_S = np.round(np.arange(0.0, 2.0001, 0.01), 2)  # the wait grid: 0 to 2 s in 10 ms ticks
REPORTED_WAITS_S = (0.3, 0.6)
REPORTED_RATES = (0.05, 0.10)


@dataclass(frozen=True)
class CutoffRule:
    """When a policy may commit: `threshold` on p_end (None: silence alone), `fallback_s` of silence always."""

    threshold: float | None = None
    fallback_s: float = float("inf")


def reach(trace: Trace, rule: CutoffRule) -> np.ndarray:
    """[ticks] the largest wait at which the policy would commit at each tick (-inf: at no wait)."""
    if rule.threshold is None:
        return trace.silence.astype(np.float64)
    ok = (trace.p_end >= rule.threshold) | (trace.silence >= rule.fallback_s)
    return np.where(ok, trace.silence, -np.inf)


@dataclass
class TurnReach:
    """Per turn: the largest wait that still cuts it off, and its commit time after the end at each wait."""

    cut_reach: np.ndarray  # [turns] the policy cuts the turn off at every wait <= this (-inf: never)
    latency: np.ndarray  # [turns, waits] commit time minus the turn's end (s); NaN: a cut-off or no commit


def turn_reach(traces: list[Trace], rule: CutoffRule, waits: np.ndarray = WAITS_S) -> TurnReach:
    cut = np.full(len(traces), -np.inf)
    latency = np.full((len(traces), len(waits)), np.nan)
    for i, tr in enumerate(traces):
        if not len(tr.t):
            continue
        r = reach(tr, rule)
        early = tr.words < len(tr.turn.words)
        if early.any():
            cut[i] = r[early].max()
        hits = r[None, :] >= waits[:, None]  # [waits, ticks]
        first = hits.argmax(axis=1)
        answered = hits.any(axis=1) & (waits > cut[i])
        latency[i, answered] = tr.t[first[answered]] - tr.turn.end
    return TurnReach(cut, latency)


def _false_cutoffs(cut_reach: np.ndarray, waits: np.ndarray) -> np.ndarray:
    """[waits] share of turns cut off at each wait."""
    return (cut_reach[:, None] >= waits[None, :]).mean(axis=0)


def _wait_at(rates: np.ndarray, waits: np.ndarray, target: float) -> float:
    """The shortest wait whose false cut-off rate is at most `target` (NaN: none on the grid)."""
    ok = np.flatnonzero(rates <= target + 1e-12)
    return float(waits[ok[0]]) if len(ok) else float("nan")


def _interval(samples: list[float]) -> list[float]:
    values = np.asarray(samples, np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return [float("nan"), float("nan")]
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def field_figures(
    traces: list[Trace],
    rule: CutoffRule,
    end_score: str,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    waits: np.ndarray = WAITS_S,
) -> dict[str, Any]:
    """AUC, false cut-off rates at the reported waits and the waits at the reported rates, with bootstrap
    95% intervals over turns (resampled with replacement, `bootstrap` times), and the whole curve."""
    reached = turn_reach(traces, rule, waits)
    scores = [tr.p_end if end_score == "p_end" else tr.silence for tr in traces]
    labels = [tr.words == len(tr.turn.words) for tr in traces]

    def figures(idx: np.ndarray) -> dict[str, float]:
        rates = _false_cutoffs(reached.cut_reach[idx], waits)
        out = {"end_auc": roc_auc(np.concatenate([scores[i] for i in idx]), np.concatenate([labels[i] for i in idx]))}
        for w in REPORTED_WAITS_S:
            out[f"false_cutoff_{int(w * 1000)}ms"] = float(rates[np.argmin(np.abs(waits - w))])
        for r in REPORTED_RATES:
            out[f"wait_at_{int(r * 100)}pct_ms"] = 1000 * _wait_at(rates, waits, r)
        return out

    everything = np.arange(len(traces))
    point = figures(everything)
    rng = np.random.default_rng(seed)
    draws = [figures(rng.integers(0, len(traces), len(traces))) for _ in range(bootstrap)]
    result: dict[str, Any] = {
        key: {"value": value, "ci95": _interval([d[key] for d in draws])} for key, value in point.items()
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a wait at which every turn is cut off has no latency
        median_latency = np.nanmedian(reached.latency, axis=0)
    result["curve"] = {
        "wait_ms": [round(1000 * float(w)) for w in waits],
        "false_cutoff": [round(float(x), 4) for x in _false_cutoffs(reached.cut_reach, waits)],
        "latency_median_ms": [None if not np.isfinite(x) else round(1000 * float(x), 1) for x in median_latency],
    }
    result["turns"] = len(traces)
    return result
