"""The end-of-turn score a bundle commits on: small boosted trees over the tick's silence and voice activity,
whether the newest word leaves the sentence open, and the neural end head's word evidence.

The neural end head learns from synthesized speech, where a pause inside a turn and the silence after it
sound alike except for the words; on real microphones the silence itself misleads (breaths, noise, other
voices) and the synthesized prosody does not transfer. The calibration is fitted on replayed turns, real
recordings beside generated ones (`python -m avatarlab.turn.calibrate`), with the direction of every input
fixed (more silence never lowers the score), and is stored in the bundle as plain arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from avatarlab.turn.features import TICK_NAMES
from avatarlab.turn.lexical import CATEGORIES
from avatarlab.turn.voice import VOICE_NAMES

CALIBRATION_INPUTS = (*TICK_NAMES, *VOICE_NAMES, "unheard_speech", "open_word", "word_evidence")
# a newest word of these categories rarely ends a turn ("and", "the", "um", "if", "I", "was" ...)
OPEN_CATEGORIES = (
    "filler",
    "conjunction",
    "contrast",
    "condition",
    "preposition",
    "determiner",
    "subject",
    "auxiliary",
    "wh",
)
# and these, outside the closed classes: forms of "be" and contractions that a sentence cannot end on here
OPEN_EXTRA = frozenset(
    {"been", "being", "i've", "we've", "you've", "they've", "gonna", "wanna", "gotta", "let's", "we'd", "you'd"}
)
OPEN_WORDS = frozenset().union(*(CATEGORIES[c] for c in OPEN_CATEGORIES)) | OPEN_EXTRA


def leaves_open(token: str) -> bool:
    """Whether a sentence whose newest (normalised) word is `token` is most likely not over."""
    return token in OPEN_WORDS


EVIDENCE_SCALE = 4.0  # word_evidence = tanh(the end head's word evidence / this)


def calibration_inputs(tick: np.ndarray, voice: np.ndarray, open_word: np.ndarray, evidence: np.ndarray) -> np.ndarray:
    """[S, len(CALIBRATION_INPUTS)] from tick [S, TICK_DIM] and voice [S, VOICE_DIM] features, whether the newest
    word leaves the sentence open [S] (`leaves_open`) and the end head's word evidence [S] (logit units).
    unheard_speech: how long the voice went on after the newest known word ended (speech the recognizer has not
    delivered yet)."""
    pause, voice_silence = tick[:, TICK_NAMES.index("pause")], voice[:, VOICE_NAMES.index("voice_silence")]
    unheard = np.clip(pause - voice_silence, 0.0, None)
    return np.concatenate(
        [
            tick,
            voice,
            unheard[:, None],
            np.asarray(open_word, np.float64)[:, None],
            np.tanh(evidence / EVIDENCE_SCALE)[:, None],
        ],
        axis=1,
    ).astype(np.float64)


@dataclass(frozen=True)
class EndCalibration:
    """Boosted regression trees; `logit(x)` = baseline + the sum of every tree's leaf for x.

    Node arrays are [trees, nodes] (padded); a node goes left when x[feature] <= threshold."""

    inputs: tuple[str, ...]
    baseline: float
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray

    def __post_init__(self) -> None:
        if tuple(self.inputs) != CALIBRATION_INPUTS:
            raise ValueError(f"calibration inputs {list(self.inputs)} are not this avatarlab's {CALIBRATION_INPUTS}")
        shapes = {a.shape for a in (self.feature, self.threshold, self.left, self.right, self.is_leaf, self.value)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"calibration node arrays disagree in shape: {sorted(shapes)}")

    def probability(self, x: np.ndarray) -> np.ndarray:
        """[S] p_end for inputs x [S, len(inputs)]: the logistic of `logit`."""
        return 1.0 / (1.0 + np.exp(-self.logit(x)))

    def logit(self, x: np.ndarray) -> np.ndarray:
        """[S] for inputs x [S, len(inputs)]."""
        x = np.nan_to_num(np.asarray(x, np.float64))
        trees = np.arange(self.feature.shape[0])[None, :]  # [1, T]
        node = np.zeros((len(x), self.feature.shape[0]), np.int64)  # [S, T]
        rows = np.arange(len(x))[:, None]
        for _ in range(self.feature.shape[1]):
            leaf = self.is_leaf[trees, node]
            if leaf.all():
                break
            go_left = x[rows, self.feature[trees, node]] <= self.threshold[trees, node]
            node = np.where(leaf, node, np.where(go_left, self.left[trees, node], self.right[trees, node]))
        return self.baseline + self.value[trees, node].sum(axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "boosted_trees",
            "inputs": list(self.inputs),
            "baseline": self.baseline,
            "trees": [
                {
                    "feature": self.feature[t].tolist(),
                    "threshold": self.threshold[t].tolist(),
                    "left": self.left[t].tolist(),
                    "right": self.right[t].tolist(),
                    "is_leaf": self.is_leaf[t].astype(int).tolist(),
                    "value": self.value[t].tolist(),
                }
                for t in range(self.feature.shape[0])
            ],
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> EndCalibration:
        trees = stored["trees"]
        if stored.get("kind") != "boosted_trees" or not trees:
            raise ValueError(f"unknown end calibration {stored.get('kind')!r} or no trees")

        def stack(key: str, dtype: type) -> np.ndarray:
            return np.array([tree[key] for tree in trees], dtype)

        return cls(
            inputs=tuple(stored["inputs"]),
            baseline=float(stored["baseline"]),
            feature=stack("feature", np.int64),
            threshold=stack("threshold", np.float64),
            left=stack("left", np.int64),
            right=stack("right", np.int64),
            is_leaf=stack("is_leaf", bool),
            value=stack("value", np.float64),
        )


@dataclass(kw_only=True)
class CalibrationOptions:
    """How the trees are grown (configs/turn_calibrate.yaml's `trees`)."""

    max_depth: int
    max_iter: int
    learning_rate: float
    min_samples_leaf: int
    l2_regularization: float
    monotonic: dict[str, int]  # input name -> +1 (never lowers the score), -1, or 0 (free)


def fit_end_calibration(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, options: CalibrationOptions, seed: int = 0
) -> EndCalibration:
    """Fit the trees to ticks x [S, inputs] labelled y [S] (1: every word of the turn is known), weighted."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    unknown = set(options.monotonic) - set(CALIBRATION_INPUTS)
    if unknown:
        raise ValueError(f"monotonic names {sorted(unknown)} are not calibration inputs {CALIBRATION_INPUTS}")
    if len(np.unique(y)) != 2:
        raise ValueError("the calibration ticks need both labels (turns heard before and after their last word)")
    model = HistGradientBoostingClassifier(
        max_depth=options.max_depth,
        max_iter=options.max_iter,
        learning_rate=options.learning_rate,
        min_samples_leaf=options.min_samples_leaf,
        l2_regularization=options.l2_regularization,
        monotonic_cst=[int(options.monotonic.get(name, 0)) for name in CALIBRATION_INPUTS],
        early_stopping=False,
        random_state=seed,
    )
    model.fit(np.nan_to_num(x), np.asarray(y, bool), sample_weight=weight)
    trees = [iteration[0].nodes for iteration in model._predictors]  # one regression tree per boosting step
    width = max(len(t) for t in trees)

    def pad(key: str, fill: float) -> np.ndarray:
        return np.array([np.pad(t[key].astype(np.float64), (0, width - len(t)), constant_values=fill) for t in trees])

    return EndCalibration(
        inputs=CALIBRATION_INPUTS,
        baseline=float(np.ravel(model._baseline_prediction)[0]),
        feature=pad("feature_idx", 0).astype(np.int64),
        threshold=pad("num_threshold", 0.0),
        left=pad("left", 0).astype(np.int64),
        right=pad("right", 0).astype(np.int64),
        is_leaf=pad("is_leaf", 1).astype(bool),
        value=pad("value", 0.0),
    )
