"""Replay a recorded turn through the predictor and several policies in 10 ms ticks, as the live loop would:
audio arrives tick by tick, each word when it ends (plus an optional ASR delay)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avatarlab.turn.features import FRAME_RATE, arrival_step
from avatarlab.turn.format import Turn
from avatarlab.turn.policy import Action, Policy
from avatarlab.turn.predictor import TurnPredictor


@dataclass
class Outcome:
    """What one policy did in one turn (times in seconds from the turn's start; None: never)."""

    policy: str
    commit_t: float | None = None
    commit_words: int = 0
    draft: int | None = None       # the live draft's prefix length at commit
    draft_t: float | None = None   # when that draft was started
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


def replay(turn: Turn, audio: np.ndarray, predictor: TurnPredictor, policies: list[Policy], tail_s: float = 1.5,
           word_delay_s: float = 0.0) -> Trace:
    """Run one turn; `audio` starts at the turn's time 0 (16 kHz mono)."""
    hop = predictor.spec.prosody.hop
    predictor.reset()
    for policy in policies:
        policy.reset()
    arrivals = [arrival_step(w.end, word_delay_s) for w in turn.words]
    last = min(arrival_step(turn.end, word_delay_s) + int(round(tail_s * FRAME_RATE)), len(audio) // hop)
    outcomes = {p.name: Outcome(p.name) for p in policies}
    draft_started: dict[str, float | None] = {p.name: None for p in policies}
    ts, p_end, silence, words = [], [], [], []
    next_word = 0
    for step in range(1, last + 1):
        predictor.push_audio(audio[(step - 1) * hop : step * hop])
        while next_word < len(turn.words) and arrivals[next_word] <= step:
            w = turn.words[next_word]
            predictor.push_word(w.word, w.start, w.end)
            next_word += 1
        t = step / FRAME_RATE
        preds = predictor.update(t, references=[p.draft for p in policies])
        if preds[0].words > 0:
            ts.append(t)
            p_end.append(preds[0].p_end)
            silence.append(preds[0].silence)
            words.append(preds[0].words)
        for policy, pred in zip(policies, preds):
            out = outcomes[policy.name]
            decision = policy.step(pred)
            if decision.action is Action.DRAFT:
                out.drafts += 1
                draft_started[policy.name] = t
            elif decision.action is Action.DISCARD:
                out.discards += 1
                draft_started[policy.name] = None
            elif decision.action is Action.COMMIT:
                out.commit_t, out.commit_words, out.reuse = t, decision.words, decision.reuse
                out.draft = decision.draft
                out.draft_t = draft_started[policy.name] if decision.draft is not None else None
    return Trace(turn, np.array(ts), np.array(p_end), np.array(silence), np.array(words), outcomes)
