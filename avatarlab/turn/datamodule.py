"""The turn corpus as a LightningDataModule: random (tick, reference prefix) batches from the tables."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from avatarlab.errors import UserInputError
from avatarlab.turn.features import FeatureSpec
from avatarlab.turn.tables import TurnTables, build_tables, make_embedding_cache

log = logging.getLogger(__name__)


def sample_reference(k: np.ndarray, p_same: float, rng: np.random.Generator) -> np.ndarray:
    """A reference prefix length per tick: the current prefix with probability p_same, else uniform in 1..k."""
    uniform = 1 + np.floor(rng.random(len(k)) * k).astype(np.int64)
    return np.where(rng.random(len(k)) < p_same, k, uniform)


def to_tensors(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for name, v in batch.items()}


def tick_weights(tables: TurnTables, focus: float, zone_s: float = 0.5) -> np.ndarray:
    """Sampling weight per tick: 1, plus `focus` inside the first `zone_s` of a pause after a word
    (where the end decision is made)."""
    pause = tables.tick[:, 0]  # seconds since the newest known word ended
    zone = (pause > 0) & (pause <= zone_s)
    return 1.0 + focus * zone


class RandomBatches(IterableDataset):
    """An endless stream of batches: ticks drawn by weight, a reference prefix drawn for each.

    With `extra` tables (another corpus, e.g. real speech), a share `extra_share` of every batch comes from
    them, drawn uniformly."""

    def __init__(
        self,
        tables: TurnTables,
        batch_size: int,
        p_same: float,
        seed: int,
        weights: np.ndarray | None = None,
        extra: TurnTables | None = None,
        extra_share: float = 0.0,
    ) -> None:
        self.tables, self.batch_size, self.p_same, self.seed = tables, batch_size, p_same, seed
        w = np.ones(len(tables.step)) if weights is None else np.asarray(weights, np.float64)
        self.cdf = np.cumsum(w) / w.sum()
        self.extra = extra
        self.n_extra = int(round(batch_size * extra_share)) if extra is not None else 0

    def _draw(self, tables: TurnTables, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return tables.batch(idx, sample_reference(tables.step_k[idx].astype(np.int64), self.p_same, rng))

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        n_main = self.batch_size - self.n_extra
        while True:
            idx = np.minimum(np.searchsorted(self.cdf, rng.random(n_main)), len(self.cdf) - 1)
            batch = self._draw(self.tables, idx, rng)
            if self.n_extra and self.extra is not None:
                more = self._draw(self.extra, rng.integers(0, len(self.extra.step), self.n_extra), rng)
                batch = {name: np.concatenate([batch[name], more[name]]) for name in batch}
            yield to_tensors(batch)


class TurnDataModule(L.LightningDataModule):
    """Feature tables of a generated corpus folder (train.jsonl, val.jsonl, audio/), cached under cache/.

    Args (values: configs/data/turn_corpus.yaml):
        corpus_dir: the folder `python -m avatarlab.turn.corpus` wrote.
        tail_s: ticks kept after the turn's end (the end head's positives).
        word_delay_s: how long after a word ends it is known (ASR latency; 0 = at its end); a list trains on
            every turn once per delay.
        p_same_ref: share of samples whose reference prefix is the current prefix (no draft).
        val_samples: fixed validation (tick, reference) pairs.
        pause_focus: extra sampling weight of ticks early in a pause (0: uniform over ticks).
        extra_train: another corpus file to train on beside the generated one (e.g. real speech from
            `python -m avatarlab.turn.real`), null for none.
        extra_share: the share of every batch drawn from `extra_train`.
    """

    def __init__(
        self,
        corpus_dir: str,
        train_file: str,
        val_file: str,
        batch_size: int,
        val_samples: int,
        val_batch_size: int,
        tail_s: float,
        word_delay_s: float | Sequence[float],
        p_same_ref: float,
        window_words: int,
        quantize_embedder: bool,
        seed: int,
        pause_focus: float,
        extra_train: str | None,
        extra_share: float,
    ) -> None:
        super().__init__()
        self.corpus_dir = Path(corpus_dir)
        self.train_file, self.val_file = train_file, val_file
        self.batch_size, self.val_samples, self.val_batch_size = batch_size, val_samples, val_batch_size
        self.word_delay_s = [float(d) for d in word_delay_s] if isinstance(word_delay_s, Sequence) else word_delay_s
        self.tail_s, self.p_same_ref, self.seed = tail_s, p_same_ref, seed
        if not 0.0 <= extra_share < 1.0:
            raise UserInputError(f"data.extra_share={extra_share} is not in [0, 1)", "pass a share such as 0.2")
        self.extra_train, self.extra_share = extra_train, extra_share
        self.extra: TurnTables | None = None
        self.pause_focus = pause_focus
        self.feature_spec = FeatureSpec(window_words=window_words, quantize_embedder=quantize_embedder)
        self.train: TurnTables | None = None
        self.val: TurnTables | None = None
        self._val_batches: list[dict[str, torch.Tensor]] = []

    def _tables(self, file: Path, hint: str) -> TurnTables:
        if not file.is_file():
            raise UserInputError(f"{file} does not exist", hint)
        cache = make_embedding_cache(file.parent, self.feature_spec)
        return build_tables(file, self.feature_spec, cache, self.tail_s, self.word_delay_s, file.parent / "cache")

    def setup(self, stage: str | None = None) -> None:
        if self.train is None:
            hint = f"generate the corpus first: `python -m avatarlab.turn.corpus out={self.corpus_dir}`"
            self.train = self._tables(self.corpus_dir / self.train_file, hint)
            self.val = self._tables(self.corpus_dir / self.val_file, hint)
            if self.extra_train:
                self.extra = self._tables(
                    Path(self.extra_train), "make real-speech turns with `python -m avatarlab.turn.real`"
                )
            rng = np.random.default_rng([self.seed, 1])
            idx = rng.integers(0, len(self.val.step), self.val_samples)
            ref = sample_reference(self.val.step_k[idx].astype(np.int64), self.p_same_ref, rng)
            self._val_batches = [
                to_tensors(self.val.batch(idx[i : i + self.val_batch_size], ref[i : i + self.val_batch_size]))
                for i in range(0, len(idx), self.val_batch_size)
            ]
            log.info("turn tables: %d train ticks, %d val ticks", len(self.train.step), len(self.val.step))

    def train_dataloader(self) -> DataLoader:
        assert self.train is not None
        weights = tick_weights(self.train, self.pause_focus) if self.pause_focus > 0 else None
        return DataLoader(
            RandomBatches(
                self.train, self.batch_size, self.p_same_ref, self.seed, weights, self.extra, self.extra_share
            ),
            batch_size=None,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._val_batches, batch_size=None)
