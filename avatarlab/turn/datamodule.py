"""The turn corpus as a LightningDataModule: random (tick, reference prefix) batches from the tables."""

from __future__ import annotations

import logging
from collections.abc import Iterator
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
    """An endless stream of batches: ticks drawn by weight, a reference prefix drawn for each."""

    def __init__(
        self, tables: TurnTables, batch_size: int, p_same: float, seed: int, weights: np.ndarray | None = None
    ) -> None:
        self.tables, self.batch_size, self.p_same, self.seed = tables, batch_size, p_same, seed
        w = np.ones(len(tables.step)) if weights is None else np.asarray(weights, np.float64)
        self.cdf = np.cumsum(w) / w.sum()

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        while True:
            idx = np.minimum(np.searchsorted(self.cdf, rng.random(self.batch_size)), len(self.cdf) - 1)
            k = self.tables.step_k[idx].astype(np.int64)
            yield to_tensors(self.tables.batch(idx, sample_reference(k, self.p_same, rng)))


class TurnDataModule(L.LightningDataModule):
    """Feature tables of a generated corpus folder (train.jsonl, val.jsonl, audio/), cached under cache/.

    Args (values: configs/data/turn_corpus.yaml):
        corpus_dir: the folder `python -m avatarlab.turn.corpus` wrote.
        tail_s: ticks kept after the turn's end (the end head's positives).
        word_delay_s: how long after a word ends it is known (ASR latency; 0 = at its end).
        p_same_ref: share of samples whose reference prefix is the current prefix (no draft).
        val_samples: fixed validation (tick, reference) pairs.
        pause_focus: extra sampling weight of ticks early in a pause (0: uniform over ticks).
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
        word_delay_s: float,
        p_same_ref: float,
        window_words: int,
        quantize_embedder: bool,
        seed: int,
        pause_focus: float,
    ) -> None:
        super().__init__()
        self.corpus_dir = Path(corpus_dir)
        self.train_file, self.val_file = train_file, val_file
        self.batch_size, self.val_samples, self.val_batch_size = batch_size, val_samples, val_batch_size
        self.tail_s, self.word_delay_s, self.p_same_ref, self.seed = tail_s, word_delay_s, p_same_ref, seed
        self.pause_focus = pause_focus
        self.feature_spec = FeatureSpec(window_words=window_words, quantize_embedder=quantize_embedder)
        self.train: TurnTables | None = None
        self.val: TurnTables | None = None
        self._val_batches: list[dict[str, torch.Tensor]] = []

    def _tables(self, name: str) -> TurnTables:
        file = self.corpus_dir / name
        if not file.is_file():
            raise UserInputError(
                f"{file} does not exist",
                f"generate the corpus first: `python -m avatarlab.turn.corpus out={self.corpus_dir}`",
            )
        cache = make_embedding_cache(self.corpus_dir, self.feature_spec)
        return build_tables(file, self.feature_spec, cache, self.tail_s, self.word_delay_s, self.corpus_dir / "cache")

    def setup(self, stage: str | None = None) -> None:
        if self.train is None:
            self.train = self._tables(self.train_file)
            self.val = self._tables(self.val_file)
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
            RandomBatches(self.train, self.batch_size, self.p_same_ref, self.seed, weights), batch_size=None
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._val_batches, batch_size=None)
