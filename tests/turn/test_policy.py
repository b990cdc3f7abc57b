"""The response policy on hand-made event streams, and the two baselines."""

from __future__ import annotations

import pytest

from avatarlab.config_args import config_args
from avatarlab.runtime.response_policy import Action, ExactReusePolicy, ResponsePolicy, SilencePolicy
from avatarlab.runtime.turn_predictor import Prediction


def trained(policy_class=ResponsePolicy, **overrides):  # type: ignore[no-untyped-def]
    """A policy with the thresholds configs/model/turn.yaml trains into a bundle (overrides merged in)."""
    return policy_class(**config_args("model/turn.yaml", "policy", **overrides))


def tick(t: float, words: int, p_end: float, p_stable: float, silence: float) -> Prediction:
    return Prediction(t=t, words=words, p_end=p_end, p_stable=p_stable, reference=words, silence=silence, pause=silence)


def run(policy, events: list[Prediction]) -> list[tuple[Action, float]]:  # type: ignore[no-untyped-def]
    policy.reset()
    return [(d.action, d.t) for d in (policy.step(e) for e in events) if d.action is not Action.WAIT]


def test_a_hold_pause_does_not_commit() -> None:
    # "I was thinking, um, [900 ms] ..." : the words so far cannot end the turn, and the speaker keeps the floor
    events = [tick(1.0 + i * 0.01, 4, p_end=0.05, p_stable=0.1, silence=i * 0.01) for i in range(90)]
    assert run(trained(), events) == []
    # but the fallback timeout still answers a speaker who went quiet for good
    late = events + [tick(2.3, 4, p_end=0.05, p_stable=0.1, silence=1.3)]
    assert run(trained(max_silence_s=1.2), late) == [(Action.COMMIT, 2.3)]


def test_a_pivot_after_a_draft_discards_it_and_a_new_draft_follows() -> None:
    policy = trained()
    policy.reset()
    assert policy.step(tick(1.0, 6, 0.1, 0.9, 0.0)).action is Action.DRAFT  # "I loved the movie" settles
    assert policy.draft == 6
    assert policy.step(tick(1.3, 7, 0.05, 0.7, 0.0)).action is Action.WAIT  # ", the" : still fits
    d = policy.step(tick(1.5, 8, 0.05, 0.05, 0.0))  # ", but" : the draft no longer fits
    assert d.action is Action.DISCARD and d.draft == 6 and policy.draft is None
    assert policy.step(tick(2.4, 12, 0.2, 0.95, 0.0)).action is Action.DRAFT  # "... the ending ruined it"
    assert policy.draft == 12
    done = policy.step(tick(2.6, 12, 0.97, 0.95, 0.15))
    assert done.action is Action.COMMIT and done.reuse and done.draft == 12


def test_a_harmless_tag_keeps_the_draft() -> None:
    policy = trained()
    actions = run(
        policy,
        [
            tick(1.0, 6, 0.1, 0.9, 0.0),  # draft "I loved the movie"
            tick(1.3, 7, 0.1, 0.6, 0.0),  # ", you"
            tick(1.5, 8, 0.2, 0.9, 0.0),  # ", you know"
            tick(1.7, 8, 0.97, 0.9, 0.2),  # silence: commit
        ],
    )
    assert [a for a, _ in actions] == [Action.DRAFT, Action.COMMIT]
    policy.reset()
    for e in [tick(1.0, 6, 0.1, 0.9, 0.0), tick(1.5, 8, 0.2, 0.9, 0.0)]:
        policy.step(e)
    final = policy.step(tick(1.7, 8, 0.97, 0.9, 0.2))
    assert final.reuse and final.draft == 6  # the early draft answers the whole turn


def test_commit_waits_for_silence_and_confidence() -> None:
    policy = trained(commit_threshold=0.9, min_silence_s=0.1)
    assert run(policy, [tick(1.0, 5, 0.99, 0.2, 0.05)]) == []  # too early
    assert run(policy, [tick(1.0, 5, 0.5, 0.2, 0.3)]) == []  # not confident
    assert run(policy, [tick(1.0, 5, 0.95, 0.2, 0.12)]) == [(Action.COMMIT, 1.0)]
    assert run(policy, [tick(1.0, 0, 0.99, 0.9, 2.0)]) == []  # nothing said yet
    with pytest.raises(ValueError):
        trained(draft_threshold=0.2, discard_threshold=0.5)


def test_exact_reuse_baseline_drops_a_draft_on_any_later_word() -> None:
    policy = trained(ExactReusePolicy)
    policy.reset()
    assert policy.step(tick(1.0, 6, 0.1, 0.9, 0.0)).action is Action.DRAFT
    assert policy.step(tick(1.5, 8, 0.2, 0.99, 0.0)).action is Action.DISCARD  # "you know" changed the transcript
    assert policy.step(tick(1.51, 8, 0.2, 0.99, 0.0)).action is Action.DRAFT
    final = policy.step(tick(1.7, 8, 0.97, 0.99, 0.2))
    assert final.action is Action.COMMIT and final.reuse and final.draft == 8


def test_silence_baseline_commits_after_the_timeout_only() -> None:
    events = [tick(1.0 + i * 0.01, 3, 0.99, 0.99, i * 0.01) for i in range(80)]
    actions = run(SilencePolicy(0.7), events)
    assert actions == [(Action.COMMIT, pytest.approx(1.7))]
