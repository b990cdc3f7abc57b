"""Training tables: every turn of a corpus file replayed into feature arrays once, then cached.

For each 10 ms tick after the first word is known: the current prefix length, tick features and the
end label. For each prefix: word features, embedding row, stability label, late-cue counts. Batches
pair a tick with a reference prefix (a draft's prefix) drawn at sampling time.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from avatarlab.atomic import atomic_path
from avatarlab.errors import UserInputError
from avatarlab.hashing import sha256_file
from avatarlab.spec.stream import TICK_RATE
from avatarlab.turn import embed, features, lexical, prosody
from avatarlab.turn.embed import EmbeddingCache, PrefixEmbedder, WordPieceVectors, prefix_text
from avatarlab.turn.features import (
    TICK_DIM,
    WORD_DIM,
    FeatureSpec,
    arrival_step,
    continuation_vectors,
    pair_features,
    tick_features,
    word_features,
)
from avatarlab.turn.format import Turn, read_corpus
from avatarlab.turn.lexical import N_LATE, cumulative_late_cues, late_cues
from avatarlab.turn.prosody import FrameTrack

log = logging.getLogger(__name__)
TABLES_VERSION = 1


def load_turn_audio(turn: Turn, sample_rate: int) -> np.ndarray:
    """The turn's audio from its time 0 (the file's `offset`), mono float32 at `sample_rate`."""
    if turn.audio is None:
        raise UserInputError(f"turn {turn.id} has no audio", "the predictor needs audio for prosody; add an audio path")
    if not Path(turn.audio).is_file():
        raise UserInputError(f"turn {turn.id}: audio file {turn.audio} does not exist", "fix the corpus' audio paths")
    audio, rate = sf.read(str(turn.audio), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate != sample_rate:
        import librosa

        audio = librosa.resample(audio, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq").astype(np.float32)
    return audio[int(round(turn.offset * sample_rate)) :]


def stability_labels(turn: Turn) -> np.ndarray:
    """[n] int8 per prefix length k = 1..n: 1 a reply fits the whole turn, 0 it does not, -1 unknown."""
    n = len(turn.words)
    k = np.arange(1, n + 1)
    if turn.complete_at is not None:
        return (k >= turn.complete_at).astype(np.int8)
    if turn.pivot_word is not None:
        return np.where(k <= turn.pivot_word, 0, -1).astype(np.int8)
    return np.full(n, -1, np.int8)


@dataclass
class TurnTables:
    """Feature arrays of one corpus file. Prefix rows: prefix_offset[t] + k - 1 for k = 1..n_words[t];
    cue rows: cue_offset[t] + k for k = 0..n_words[t]."""

    turn_ids: np.ndarray  # [n_turns] str
    n_words: np.ndarray  # [n_turns]
    prefix_offset: np.ndarray  # [n_turns]
    cue_offset: np.ndarray  # [n_turns]
    step_turn: np.ndarray  # [N] turn index of each tick (a turn's ticks repeat once per word delay)
    step: np.ndarray  # [N] tick (t = step / 100 s)
    step_k: np.ndarray  # [N] words known at the tick (>= 1)
    tick: np.ndarray  # [N, TICK_DIM]
    y_end: np.ndarray  # [N] 1 once the last word is known
    word: np.ndarray  # [M, WORD_DIM]
    emb_row: np.ndarray  # [M] row in `embeddings`
    stable: np.ndarray  # [M] int8 (1, 0, -1 unknown)
    word_cues: np.ndarray  # [M, N_LATE] late cues of word k-1 (the prefix's last word)
    cues: np.ndarray  # [M + n_turns, N_LATE] cumulative late cues
    pieces: np.ndarray  # [M + n_turns, CONT_DIM] cumulative static word-piece vectors
    piece_count: np.ndarray  # [M + n_turns] cumulative word-piece counts
    embeddings: np.ndarray  # [U, 384]

    def save(self, path: Path, key: str) -> None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, key=np.array(key), **{k: v for k, v in self.__dict__.items()})

    @classmethod
    def load(cls, path: Path, key: str) -> TurnTables | None:
        if not path.is_file():
            return None
        data = np.load(path, allow_pickle=False)
        if str(data["key"]) != key:
            return None
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    def batch(self, idx: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
        """Model inputs and labels for ticks `idx` with reference prefix lengths `ref` (1 <= ref <= k)."""
        turn = self.step_turn[idx]
        k = self.step_k[idx].astype(np.int64)
        p0 = self.prefix_offset[turn]
        c0 = self.cue_offset[turn]
        cur_row, ref_row = p0 + k - 1, p0 + ref - 1
        emb_cur = self.embeddings[self.emb_row[cur_row]]
        emb_ref = self.embeddings[self.emb_row[ref_row]]
        # the first word after the reference prefix is word `ref` (0-based), i.e. prefix row p0 + ref
        first_after = np.where((ref < k)[:, None], self.word_cues[np.minimum(p0 + ref, p0 + k - 1)], 0.0)
        pair = pair_features(ref, k, emb_ref, emb_cur, self.cues[c0 + ref], self.cues[c0 + k], first_after)
        cont = continuation_vectors(
            self.pieces[c0 + ref], self.pieces[c0 + k], self.piece_count[c0 + ref], self.piece_count[c0 + k]
        )
        return {
            "cur_emb": emb_cur,
            "ref_emb": emb_ref,
            "word": self.word[cur_row],
            "tick": self.tick[idx],
            "pair": pair,
            "cont": cont,
            "y_end": self.y_end[idx],
            "y_stable": self.stable[ref_row].astype(np.float32),
        }


def _feature_code() -> str:
    """sha256 of the modules that compute features: a code change invalidates cached tables."""

    return hashlib.sha256(
        b"".join(Path(m.__file__).read_bytes() for m in (embed, features, lexical, prosody))
    ).hexdigest()


def tables_key(corpus_file: Path, spec: FeatureSpec, tail_s: float, word_delays: list[float]) -> str:
    blob = json.dumps(
        {
            "corpus": sha256_file(corpus_file),
            "spec": spec.to_dict(),
            "tail_s": tail_s,
            "delay": word_delays if len(word_delays) > 1 else word_delays[0],
            "code": _feature_code(),
            "v": TABLES_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_tables(
    corpus_file: str | Path,
    spec: FeatureSpec,
    embeddings: EmbeddingCache,
    tail_s: float = 1.5,
    word_delay_s: float | Sequence[float] = 0.0,
    cache_dir: str | Path | None = None,
) -> TurnTables:
    """Replay a corpus file into TurnTables (loaded from `cache_dir` when built before).

    word_delay_s: how long after a word ends it is known; with several values every turn is replayed once per
    value (its ticks repeat, each with that delay's known words), so the model learns every delay."""
    corpus_file = Path(corpus_file)
    delays = [float(d) for d in word_delay_s] if isinstance(word_delay_s, Sequence) else [float(word_delay_s)]
    key = tables_key(corpus_file, spec, tail_s, delays)
    cache = Path(cache_dir) / f"tables-{corpus_file.stem}-{key}.npz" if cache_dir else None
    if cache is not None and (cached := TurnTables.load(cache, key)) is not None:
        log.info("loaded feature tables for %s from %s", corpus_file.name, cache)
        return cached
    turns = read_corpus(corpus_file, check_audio=True)
    log.info("building feature tables for %d turns of %s", len(turns), corpus_file)
    texts: list[str] = []
    parts: dict[str, list[np.ndarray]] = {
        name: []
        for name in (
            "step_turn",
            "step",
            "step_k",
            "tick",
            "y_end",
            "word",
            "stable",
            "word_cues",
            "cues",
            "pieces",
            "piece_count",
        )
    }
    pieces = WordPieceVectors()
    n_words, prefix_offset, cue_offset = [], [], []
    m = 0
    for index, turn in enumerate(turns):
        audio = load_turn_audio(turn, spec.prosody.sample_rate)
        track = FrameTrack.from_audio(audio, spec.prosody)
        tokens = turn.tokens
        n = len(tokens)
        n_words.append(n)
        prefix_offset.append(m)
        cue_offset.append(m + index)
        m += n
        parts["word"].append(np.stack([word_features(track, turn.words, tokens, i) for i in range(n)]))
        parts["stable"].append(stability_labels(turn))
        parts["word_cues"].append(np.stack([late_cues(t) for t in tokens]))
        parts["cues"].append(cumulative_late_cues(tokens))
        piece_sums, piece_counts = pieces.cumulative(tokens)
        parts["pieces"].append(piece_sums)
        parts["piece_count"].append(piece_counts)
        texts.extend(prefix_text(tokens, k, spec.window_words) for k in range(1, n + 1))
        ends = np.array([w.end for w in turn.words])
        for delay in delays:  # the same turn heard with each recognition delay: its own ticks
            arrivals = np.array([arrival_step(w.end, delay) for w in turn.words])
            first, last = (
                int(arrivals[0]),
                min(int(arrival_step(turn.end, delay) + round(tail_s * TICK_RATE)), track.n),
            )
            steps = np.arange(first, last + 1)
            k = np.searchsorted(arrivals, steps, side="right")  # words known at each tick
            parts["tick"].append(tick_features(track, steps, ends[k - 1]))
            parts["step_turn"].append(np.full(len(steps), index, np.int32))
            parts["step"].append(steps.astype(np.int32))
            parts["step_k"].append(k.astype(np.int16))
            parts["y_end"].append((k == n).astype(np.float32))
    log.info("embedding %d prefixes", len(texts))
    embeddings.fill(texts)
    embeddings.save()
    unique = sorted(set(texts))
    row_of = {t: i for i, t in enumerate(unique)}
    tables = TurnTables(
        turn_ids=np.array([t.id for t in turns]),
        n_words=np.array(n_words, np.int64),
        prefix_offset=np.array(prefix_offset, np.int64),
        cue_offset=np.array(cue_offset, np.int64),
        embeddings=np.stack([embeddings(t) for t in unique]).astype(np.float32),
        emb_row=np.array([row_of[t] for t in texts], np.int64),
        **{name: np.concatenate(v) for name, v in parts.items()},
    )
    assert tables.word.shape[1] == WORD_DIM and tables.tick.shape[1] == TICK_DIM and tables.cues.shape[1] == N_LATE
    if cache is not None:
        tables.save(cache, key)
    return tables


def make_embedding_cache(corpus_dir: Path, spec: FeatureSpec, embedder: PrefixEmbedder | None = None) -> EmbeddingCache:
    """The prefix-embedding cache of a corpus folder (created lazily; the embedder loads on first miss)."""
    emb_spec = {"name": "all-MiniLM-L6-v2", "quantize": spec.quantize_embedder}
    return EmbeddingCache(
        _LazyEmbedder(spec.quantize_embedder) if embedder is None else embedder,
        corpus_dir / "cache" / "prefix-embeddings.npz",
        emb_spec,
    )


class _LazyEmbedder:
    """Loads the sentence model only when an embedding is actually missing from the cache."""

    def __init__(self, quantize: bool) -> None:
        self.quantize = quantize
        self._embedder: PrefixEmbedder | None = None

    def __call__(self, text: str) -> np.ndarray:
        if self._embedder is None:
            self._embedder = PrefixEmbedder(quantize=self.quantize)
        return self._embedder(text)
