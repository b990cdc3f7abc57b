"""The live turn predictor: audio and word events in, p_end and p_stable out, every tick.

Loads from a turn bundle (no Lightning). A word's features and prefix embedding are computed once, at
the first update after it arrives; every other update costs the tick features and one small forward.
Its tensors are tiny: the process that runs it is best set to one torch thread (the live loop's and
scripts/bench_turn.py's entry points do), so that extra threads do not contend with the other stages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avatarlab.runtime.bundle import REEXPORT, BundleError, read_bundle
from avatarlab.turn.embed import PrefixEmbedder, WordPieceVectors, prefix_text
from avatarlab.turn.end_calibration import EndCalibration, calibration_inputs, leaves_open
from avatarlab.turn.features import (
    CONT_DIM,
    FeatureSpec,
    continuation_vectors,
    pair_features,
    tick_features,
    word_features,
)
from avatarlab.turn.format import Word, normalize_word
from avatarlab.turn.lexical import N_LATE, late_cues
from avatarlab.turn.model import TurnModel, TurnModelConfig
from avatarlab.turn.prosody import FrameTrack
from avatarlab.turn.voice import VoiceTrack, voice_features

TURN_BUNDLE_KIND = "turn"


@dataclass
class Prediction:
    """One tick's output. p_stable is for `reference` (the draft's prefix length, or `words`)."""

    t: float
    words: int
    p_end: float
    p_stable: float
    reference: int
    silence: float
    pause: float


class TurnPredictor:
    """Streaming state for one user turn (call reset() between turns)."""

    def __init__(
        self,
        model: TurnModel,
        spec: FeatureSpec,
        embed: Callable[[str], np.ndarray],
        pieces: WordPieceVectors | None = None,
        calibration: EndCalibration | None = None,
        voice: bool = False,
    ) -> None:
        """`calibration`: p_end from the bundle's end calibration instead of the end head alone; `voice`: keep
        the voice-activity track (always with a calibration; end_inputs() needs it)."""
        self.model = model.eval()
        self.spec = spec
        self.embed = embed
        self.pieces = pieces or WordPieceVectors()
        self.calibration = calibration
        self.voice = VoiceTrack() if voice or calibration is not None else None
        self.reset()

    @classmethod
    def from_bundle(cls, path: str | Path, embed: Callable[[str], np.ndarray] | None = None) -> TurnPredictor:
        bundle = read_bundle(path, kind=TURN_BUNDLE_KIND)
        try:
            spec = FeatureSpec.from_dict(bundle.feature_spec)
            model = TurnModel(TurnModelConfig.from_stored(bundle.config["model"]))
            model.load_state_dict(bundle.tensors)
            stored = bundle.config.get("end_calibration")
            calibration = EndCalibration.from_dict(stored) if stored else None
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise BundleError(
                f"{path} does not fit this avatarlab's turn predictor ({e})",
                REEXPORT,
            ) from e
        return cls(model, spec, embed or PrefixEmbedder(quantize=spec.quantize_embedder), calibration=calibration)

    def reset(self, audio: np.ndarray | None = None) -> None:
        """Start a new turn. The whole turn's `audio` may be given at once for offline replay: every feature
        still reads only frames that have ended by its time."""
        self.track = FrameTrack(self.spec.prosody) if audio is None else FrameTrack.from_audio(audio, self.spec.prosody)
        if self.voice is not None:
            self.voice.reset()
            if audio is not None:
                self.voice.push(audio)
        self.words: list[Word] = []
        self.tokens: list[str] = []
        self.pending: list[Word] = []
        self._word_feats: list[np.ndarray] = []
        self._embs: list[np.ndarray] = []
        self._cues: list[np.ndarray] = [np.zeros(N_LATE, np.float32)]  # cumulative, row k = first k words
        self._word_cues: list[np.ndarray] = []
        self._open: list[float] = []  # per word: 1.0 when the sentence is left open after it (leaves_open)
        self._piece_sums: list[np.ndarray] = [np.zeros(CONT_DIM, np.float32)]  # cumulative, row k = first k words
        self._piece_counts: list[float] = [0.0]
        self.reference: int | None = None

    def push_audio(self, samples: np.ndarray) -> None:
        """Audio since the last call: mono float32 at the spec's sample rate (16 kHz)."""
        self.track.push(samples)
        if self.voice is not None:
            self.voice.push(samples)

    def push_word(self, word: str, start: float, end: float, final: bool = True) -> None:
        """A recognised word (times in seconds from the turn's start). Non-final words are held as
        pending and replaced by the next event; only final words enter the prefix."""
        if not final:
            self.pending = [Word(word, start, end)]
            return
        self.pending = []
        token = normalize_word(word)
        if not token:
            return
        self.words.append(Word(word, start, end))
        self.tokens.append(token)
        self._cues.append(self._cues[-1] + late_cues(token))
        self._word_cues.append(late_cues(token))
        self._open.append(float(leaves_open(token)))
        vec, count = self.pieces(token)
        self._piece_sums.append(self._piece_sums[-1] + vec)
        self._piece_counts.append(self._piece_counts[-1] + count)

    def set_reference(self, words: int | None) -> None:
        """The prefix length a live draft answers (None: no draft; p_stable is then for the current prefix)."""
        self.reference = words

    def _catch_up(self) -> None:
        for i in range(len(self._word_feats), len(self.words)):
            self._word_feats.append(word_features(self.track, self.words, self.tokens, i))
            self._embs.append(
                np.asarray(self.embed(prefix_text(self.tokens, i + 1, self.spec.window_words)), np.float32)
            )

    def _end_features(self, steps: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, ...]:
        """Tick [S, TICK_DIM], word [S, WORD_DIM] and prefix embedding [S, 384] inputs of the end head at ticks
        `steps` with `words[i]` (>= 1) words known, and whether the newest of them leaves the sentence open [S]."""
        self._catch_up()
        k = np.asarray(words, np.int64)
        ends = np.array([w.end for w in self.words])
        tick = tick_features(self.track, np.asarray(steps, np.int64), ends[k - 1])
        opened = np.array(self._open)[k - 1]
        return tick, np.stack(self._word_feats)[k - 1], np.stack(self._embs)[k - 1], opened

    def _inputs(
        self, steps: np.ndarray, tick: np.ndarray, word: np.ndarray, emb: np.ndarray, opened: np.ndarray
    ) -> np.ndarray:
        """[S, len(CALIBRATION_INPUTS)] from the end head's inputs at ticks `steps`."""
        if self.voice is None:
            raise ValueError("the end calibration's inputs need the voice-activity track: pass voice=True")
        _, evidence = self.model.end_parts(torch.from_numpy(emb), torch.from_numpy(word), torch.from_numpy(tick))
        return calibration_inputs(tick, voice_features(self.voice, np.asarray(steps)), opened, evidence.numpy())

    def _end_probability(
        self, steps: np.ndarray, tick: np.ndarray, word: np.ndarray, emb: np.ndarray, opened: np.ndarray
    ) -> np.ndarray:
        """[S] p_end from the end head's inputs: through the calibration when the bundle has one."""
        if self.calibration is not None:
            return self.calibration.probability(self._inputs(steps, tick, word, emb, opened)).astype(np.float32)
        logit = self.model.end_logit(torch.from_numpy(emb), torch.from_numpy(word), torch.from_numpy(tick))
        return torch.sigmoid(logit).numpy()

    @torch.inference_mode()
    def end_inputs(self, steps: np.ndarray, words: np.ndarray) -> np.ndarray:
        """[S, len(CALIBRATION_INPUTS)] the end calibration's inputs at ticks `steps` with `words[i]` (>= 1) known."""
        return self._inputs(steps, *self._end_features(steps, words))

    @torch.inference_mode()
    def end_probabilities(self, steps: np.ndarray, words: np.ndarray) -> np.ndarray:
        """p_end at many ticks at once (offline replay): `words[i]` words known at tick `steps[i]` (>= 1).

        The end head reads neither the reference prefix nor pair features, so this equals update()."""
        return self._end_probability(steps, *self._end_features(steps, words))

    def _continuation(self, refs: np.ndarray, k: int) -> np.ndarray:
        """[R, CONT_DIM] for the words after each reference prefix."""
        return continuation_vectors(
            np.stack([self._piece_sums[r] for r in refs]),
            np.repeat(self._piece_sums[k][None], len(refs), axis=0),
            np.array([self._piece_counts[r] for r in refs]),
            np.full(len(refs), self._piece_counts[k]),
        )

    @torch.inference_mode()
    def stable_probability(self, reference: int, words: int) -> float:
        """p_stable of a `reference`-word prefix once `words` words are known (offline replay; equals update())."""
        self._catch_up()
        r, k = np.array([reference]), np.array([words])
        first_after = self._word_cues[reference][None] if reference < words else np.zeros((1, N_LATE), np.float32)
        pair = pair_features(
            r,
            k,
            self._embs[reference - 1][None],
            self._embs[words - 1][None],
            self._cues[reference][None],
            self._cues[words][None],
            first_after,
        )
        logit = self.model.stable_logit(
            torch.from_numpy(self._embs[words - 1][None]),
            torch.from_numpy(self._embs[reference - 1][None]),
            torch.from_numpy(self._word_feats[words - 1][None]),
            torch.from_numpy(pair),
            torch.from_numpy(self._continuation(r, words)),
        )
        return float(torch.sigmoid(logit).item())

    @torch.inference_mode()
    def update(self, t: float, references: Sequence[int | None] | None = None) -> Prediction | list[Prediction]:
        """Predict at time t (seconds). With `references`, one Prediction per reference prefix."""
        refs = [self.reference] if references is None else list(references)
        k = len(self.words)
        step = int(round(t * 100))
        last_end = np.array([self.words[-1].end if k else np.nan])
        tick = tick_features(self.track, np.array([step]), last_end)  # [1, TICK_DIM]
        silence, pause = float(tick[0, 2]), float(tick[0, 0])
        if k == 0:
            out = [Prediction(t, 0, 0.0, 0.0, 0, silence, pause) for _ in refs]
            return out if references is not None else out[0]
        self._catch_up()
        r = np.array([min(max(1, ref), k) if ref is not None else k for ref in refs], np.int64)
        emb_cur = np.repeat(self._embs[-1][None], len(r), axis=0)  # [R, 384]
        emb_ref = np.stack([self._embs[i - 1] for i in r])  # [R, 384]
        first_after = np.stack([self._word_cues[i] if i < k else np.zeros(N_LATE, np.float32) for i in r])
        pair = pair_features(
            r,
            np.full(len(r), k),
            emb_ref,
            emb_cur,
            np.stack([self._cues[i] for i in r]),
            np.repeat(self._cues[k][None], len(r), axis=0),
            first_after,
        )
        word = np.repeat(self._word_feats[-1][None], len(r), axis=0)
        stable_logit = self.model.stable_logit(
            torch.from_numpy(emb_cur),
            torch.from_numpy(emb_ref),
            torch.from_numpy(word),
            torch.from_numpy(pair),
            torch.from_numpy(self._continuation(r, k)),
        )
        opened = np.array(self._open[-1:])
        p_end = float(self._end_probability(np.array([step]), tick, word[:1], emb_cur[:1], opened)[0])
        p_stable = torch.sigmoid(stable_logit).numpy()
        out = [Prediction(t, k, float(p_end), float(p_stable[i]), int(r[i]), silence, pause) for i in range(len(r))]
        return out if references is not None else out[0]
