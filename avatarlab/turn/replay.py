"""Replay a recorded turn through the predictor and several policies in 10 ms ticks, as the live loop would:
audio arrives tick by tick, each word when it ends (plus an optional ASR delay)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avatarlab.runtime.response_policy import Action, Policy
from avatarlab.runtime.turn_predictor import Prediction, TurnPredictor
from avatarlab.spec.stream import TICK_RATE
from avatarlab.turn.features import arrival_step, tick_features
from avatarlab.turn.format import Turn


@dataclass
class Outcome:
    """What one policy did in one turn (times in seconds from the turn's start; None: never)."""

    policy: str
    commit_t: float | None = None
    commit_words: int = 0
    draft: int | None = None  # the live draft's prefix length at commit
    draft_t: float | None = None  # when that draft was started
    reuse: bool = False
    drafts: int = 0
    discards: int = 0


@dataclass
class Trace:
    """A replayed turn: p_end at every tick after the first word is known, and each policy's outcome."""

    turn: Turn
    t: np.ndarray
    p_end: np.ndarray
    silence: np.ndarray
    words: np.ndarray
    outcomes: dict[str, Outcome] = field(default_factory=dict)


class _Recorder:
    """Feeds predictions to the policies and records what they do."""

    def __init__(self, turn: Turn, policies: list[Policy]) -> None:
        self.turn, self.policies = turn, policies
        for policy in policies:
            policy.reset()
        self.outcomes = {p.name: Outcome(p.name) for p in policies}
        self.draft_started: dict[str, float | None] = {p.name: None for p in policies}
        self.ts: list[float] = []
        self.p_end: list[float] = []
        self.silence: list[float] = []
        self.words: list[int] = []

    def tick(self, preds: list[Prediction]) -> None:
        first = preds[0]
        if first.words > 0:
            self.ts.append(first.t)
            self.p_end.append(first.p_end)
            self.silence.append(first.silence)
            self.words.append(first.words)
        for policy, pred in zip(self.policies, preds):
            out = self.outcomes[policy.name]
            decision = policy.step(pred)
            if decision.action is Action.DRAFT:
                out.drafts += 1
                self.draft_started[policy.name] = pred.t
            elif decision.action is Action.DISCARD:
                out.discards += 1
                self.draft_started[policy.name] = None
            elif decision.action is Action.COMMIT:
                out.commit_t, out.commit_words, out.reuse = pred.t, decision.words, decision.reuse
                out.draft = decision.draft
                out.draft_t = self.draft_started[policy.name] if decision.draft is not None else None

    def trace(self) -> Trace:
        return Trace(
            self.turn,
            np.array(self.ts),
            np.array(self.p_end),
            np.array(self.silence),
            np.array(self.words),
            self.outcomes,
        )


def hear_offline(
    predictor: TurnPredictor, turn: Turn, audio: np.ndarray, tail_s: float, word_delay_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Give the predictor the whole turn at once (offline replay); return its ticks [S] (1, 2, ...) and the
    words known at each [S] when every word is known `word_delay_s` after it ends."""
    hop = predictor.spec.prosody.hop
    arrivals = np.array([arrival_step(w.end, word_delay_s) for w in turn.words])
    last = min(arrival_step(turn.end, word_delay_s) + int(round(tail_s * TICK_RATE)), len(audio) // hop)
    predictor.reset(audio=audio[: last * hop])
    for w in turn.words:
        predictor.push_word(w.word, w.start, w.end)
    steps = np.arange(1, last + 1)
    return steps, np.searchsorted(arrivals, steps, side="right")


def replay(
    turn: Turn,
    audio: np.ndarray,
    predictor: TurnPredictor,
    policies: list[Policy],
    tail_s: float = 1.5,
    word_delay_s: float = 0.0,
    streaming: bool = True,
) -> Trace:
    """Run one turn; `audio` starts at the turn's time 0 (16 kHz mono).

    streaming=True pushes audio and words tick by tick through TurnPredictor.update, exactly as live.
    streaming=False computes the same numbers faster: prosody frames for the whole turn at once (each
    still reads only the past), p_end for all ticks in one batch, p_stable once per (reference, words).
    """
    hop = predictor.spec.prosody.hop
    arrivals = np.array([arrival_step(w.end, word_delay_s) for w in turn.words])
    last = min(arrival_step(turn.end, word_delay_s) + int(round(tail_s * TICK_RATE)), len(audio) // hop)
    rec = _Recorder(turn, policies)
    if streaming:
        predictor.reset()
        next_word = 0
        for step in range(1, last + 1):
            predictor.push_audio(audio[(step - 1) * hop : step * hop])
            while next_word < len(turn.words) and arrivals[next_word] <= step:
                w = turn.words[next_word]
                predictor.push_word(w.word, w.start, w.end)
                next_word += 1
            rec.tick(predictor.update(step / TICK_RATE, references=[p.draft for p in policies]))
        return rec.trace()

    steps, known = hear_offline(predictor, turn, audio, tail_s, word_delay_s)
    ends = np.array([w.end for w in turn.words])
    tick = tick_features(predictor.track, steps, np.where(known > 0, ends[np.maximum(known, 1) - 1], np.nan))
    p_end = np.zeros(len(steps))
    heard = known > 0
    if heard.any():
        p_end[heard] = predictor.end_probabilities(steps[heard], known[heard])
    stable: dict[tuple[int, int], float] = {}
    for i, step in enumerate(steps):
        k = int(known[i])
        preds = []
        for policy in policies:
            if k == 0:
                preds.append(Prediction(step / TICK_RATE, 0, 0.0, 0.0, 0, float(tick[i, 2]), float(tick[i, 0])))
                continue
            r = min(max(1, policy.draft), k) if policy.draft is not None else k
            if (r, k) not in stable:
                stable[(r, k)] = predictor.stable_probability(r, k)
            preds.append(
                Prediction(
                    step / TICK_RATE, k, float(p_end[i]), stable[(r, k)], r, float(tick[i, 2]), float(tick[i, 0])
                )
            )
        rec.tick(preds)
    return rec.trace()
