"""The response policy: WAIT / DRAFT / COMMIT / DISCARD from p_end, p_stable and the silence so far.

A draft is the reply to a prefix, started early. While the user goes on, p_stable judges whether a
reply to the draft's prefix still fits; if it drops, the draft is discarded (and redone when the meaning
settles again). At commit the draft is used if it still fits, else the reply is made from the full turn.

Two baselines share the interface: a silence timeout (no drafts), and exact-transcript reuse (a draft
is dropped as soon as any word follows it, as open frameworks do).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from avatarlab.runtime.turn_predictor import Prediction


class Action(str, Enum):
    WAIT = "WAIT"
    DRAFT = "DRAFT"
    COMMIT = "COMMIT"
    DISCARD = "DISCARD"


@dataclass
class Decision:
    """What to do now. On DRAFT, `draft` is the prefix length to answer; on COMMIT, `reuse` says
    whether the live draft (of `draft` words) is the reply, else the reply is made now from `words`."""

    action: Action
    t: float
    words: int
    draft: int | None = None
    reuse: bool = False


class Policy(Protocol):
    name: str
    draft: int | None

    def reset(self) -> None: ...

    def step(self, pred: Prediction) -> Decision: ...


class ResponsePolicy:
    """Thresholds on the predictor's outputs (seconds for silences); a turn bundle carries the trained
    values (`policy` of configs/model/turn.yaml).

    Args:
        draft_threshold: draft when p_stable of the current prefix reaches this (and no draft is live).
        discard_threshold: discard the live draft when its p_stable falls below this.
        commit_threshold: commit when p_end reaches this, after at least min_silence_s of silence.
        reuse_threshold: at commit, use the draft if its p_stable is at least this.
        max_silence_s: commit anyway after this much silence (the fallback timeout).
    """

    name = "predictor"

    def __init__(
        self,
        draft_threshold: float,
        discard_threshold: float,
        commit_threshold: float,
        reuse_threshold: float,
        min_silence_s: float,
        max_silence_s: float,
    ) -> None:
        if not 0 <= discard_threshold <= draft_threshold <= 1:
            raise ValueError("need 0 <= discard_threshold <= draft_threshold <= 1")
        self.draft_threshold, self.discard_threshold = draft_threshold, discard_threshold
        self.commit_threshold, self.reuse_threshold = commit_threshold, reuse_threshold
        self.min_silence_s, self.max_silence_s = min_silence_s, max_silence_s
        self.reset()

    def reset(self) -> None:
        self.draft: int | None = None
        self.committed = False

    def _commit_now(self, pred: Prediction) -> bool:
        if pred.words == 0:
            return False
        if pred.silence >= self.max_silence_s:
            return True
        return pred.silence >= self.min_silence_s and pred.p_end >= self.commit_threshold

    def _keeps(self, pred: Prediction) -> bool:
        """At commit: does the live draft still fit?"""
        return pred.p_stable >= self.reuse_threshold

    def _drops(self, pred: Prediction) -> bool:
        """While listening: has the live draft stopped fitting?"""
        return pred.p_stable < self.discard_threshold

    def step(self, pred: Prediction) -> Decision:
        """One tick. `pred.p_stable` must be for the live draft's prefix when there is one."""
        if self.committed:
            return Decision(Action.WAIT, pred.t, pred.words, self.draft)
        if self._commit_now(pred):
            self.committed = True
            reuse = self.draft is not None and self._keeps(pred)
            return Decision(Action.COMMIT, pred.t, pred.words, self.draft, reuse)
        if self.draft is not None and self._drops(pred):
            dropped, self.draft = self.draft, None
            return Decision(Action.DISCARD, pred.t, pred.words, dropped)
        if self.draft is None and pred.words > 0 and pred.p_stable >= self.draft_threshold:
            self.draft = pred.words
            return Decision(Action.DRAFT, pred.t, pred.words, self.draft)
        return Decision(Action.WAIT, pred.t, pred.words, self.draft)


class ExactReusePolicy(ResponsePolicy):
    """Baseline: the same drafts and commit moments, but a draft survives only while no word follows it
    (reuse only when the final transcript is word for word the draft's input)."""

    name = "exact_reuse"

    def _keeps(self, pred: Prediction) -> bool:
        return self.draft == pred.words

    def _drops(self, pred: Prediction) -> bool:
        return self.draft is not None and pred.words != self.draft


class SilencePolicy:
    """Baseline: commit after a fixed silence; no drafts."""

    name = "silence"

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.reset()

    def reset(self) -> None:
        self.draft: int | None = None
        self.committed = False

    def step(self, pred: Prediction) -> Decision:
        if not self.committed and pred.words > 0 and pred.silence >= self.timeout_s:
            self.committed = True
            return Decision(Action.COMMIT, pred.t, pred.words)
        return Decision(Action.WAIT, pred.t, pred.words)
