"""The field's end-of-turn figures against a tick-by-tick replay of the policies they stand for."""

from __future__ import annotations

import numpy as np
import pytest

from avatarlab.runtime.response_policy import ResponsePolicy, SilencePolicy
from avatarlab.runtime.turn_predictor import Prediction
from avatarlab.turn.cutoff import WAITS_S, CutoffRule, field_figures, turn_reach
from avatarlab.turn.format import Turn, Word
from avatarlab.turn.replay import Trace


def _trace(rng: np.random.Generator, index: int) -> Trace:
    """A random turn: words that end at random ticks, silences that grow in pauses, a random p_end."""
    n_words = int(rng.integers(2, 8))
    ends = np.cumsum(rng.uniform(0.1, 0.9, n_words))
    words = [Word(f"w{i}", float(e) - 0.1, float(e)) for i, e in enumerate(ends)]
    end = float(ends[-1])
    t = np.round(np.arange(words[0].end, end + 2.0, 0.01), 2)
    known = np.searchsorted(ends, t + 1e-9, side="right")
    silence = np.zeros(len(t))
    for i in range(1, len(t)):  # silence grows except while a word is being spoken
        speaking = any(w.start <= t[i] < w.end for w in words)
        silence[i] = 0.0 if speaking else silence[i - 1] + 0.01
    p_end = np.clip(rng.normal(0.2 + 0.6 * (known == n_words), 0.3), 0, 1)
    turn = Turn(id=f"t{index}", words=words, end=end)
    return Trace(turn, t, p_end, silence, known)


def _replayed_cut(trace: Trace, policy: ResponsePolicy | SilencePolicy) -> bool:
    """Does the policy, stepped tick by tick, commit before the last word is known?"""
    policy.reset()
    for t, w, p, s in zip(trace.t, trace.words, trace.p_end, trace.silence):
        decision = policy.step(Prediction(float(t), int(w), float(p), 1.0, int(w), float(s), float(s)))
        if decision.action.value == "COMMIT":
            return int(w) < len(trace.turn.words)
    return False


@pytest.mark.parametrize("wait", [0.0, 0.15, 0.3, 0.6, 1.0])
def test_false_cutoffs_match_the_policies_replayed(wait: float) -> None:
    rng = np.random.default_rng(3)
    traces = [_trace(rng, i) for i in range(40)]
    column = int(np.argmin(np.abs(WAITS_S - wait)))
    for rule, policy in (
        (CutoffRule(), SilencePolicy(wait)),
        (
            CutoffRule(0.7, 1.2),
            ResponsePolicy(0.4, 0.2, commit_threshold=0.7, reuse_threshold=0.3, min_silence_s=wait, max_silence_s=1.2),
        ),
    ):
        reached = turn_reach(traces, rule)
        expected = [_replayed_cut(tr, policy) for tr in traces]
        assert list(reached.cut_reach >= WAITS_S[column]) == expected
        assert sum(expected) > 0 or wait >= 0.6  # the random turns do get cut off at short waits


def test_figures_have_intervals_and_silence_needs_longer_waits() -> None:
    rng = np.random.default_rng(5)
    traces = [_trace(rng, i) for i in range(60)]
    silence = field_figures(traces, CutoffRule(), "silence", bootstrap=200)
    for key in ("end_auc", "false_cutoff_300ms", "false_cutoff_600ms", "wait_at_5pct_ms", "wait_at_10pct_ms"):
        lo, hi = silence[key]["ci95"]
        assert lo <= silence[key]["value"] <= hi
    curve = np.asarray(silence["curve"]["false_cutoff"])
    assert np.all(np.diff(curve) <= 1e-12)  # a longer wait never cuts off more turns
    assert silence["false_cutoff_300ms"]["value"] >= silence["false_cutoff_600ms"]["value"]
    wait_5 = silence["wait_at_5pct_ms"]["value"]
    assert curve[int(round(wait_5 / 10))] <= 0.05 and curve[int(round(wait_5 / 10)) - 1] > 0.05
