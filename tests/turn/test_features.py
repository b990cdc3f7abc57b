"""Feature shapes, and the live predictor seeing exactly the numbers the training tables hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from avatarlab.config_args import config_args, from_config
from avatarlab.runtime.turn_predictor import TurnPredictor
from avatarlab.turn.embed import PrefixEmbedder, prefix_text
from avatarlab.turn.features import (
    CONT_DIM,
    PAIR_DIM,
    TICK_DIM,
    WORD_DIM,
    FeatureSpec,
    arrival_step,
    tick_features,
    word_features,
)
from avatarlab.turn.format import read_corpus
from avatarlab.turn.lexical import N_LATE, cumulative_late_cues, syllables
from avatarlab.turn.model import TurnModel
from avatarlab.turn.prosody import FrameTrack
from avatarlab.turn.tables import build_tables, load_turn_audio, make_embedding_cache, stability_labels


def corpus_spec() -> FeatureSpec:
    """The feature spec configs/data/turn_corpus.yaml trains with."""
    data = config_args("data/turn_corpus.yaml")
    return FeatureSpec(window_words=data["window_words"], quantize_embedder=data["quantize_embedder"])


@pytest.fixture(scope="module")
def tables(tiny_corpus: Path):  # type: ignore[no-untyped-def]
    spec = corpus_spec()
    return build_tables(
        tiny_corpus / "val.jsonl", spec, make_embedding_cache(tiny_corpus, spec), cache_dir=tiny_corpus / "cache"
    )


def test_shapes(tiny_corpus: Path, tables) -> None:  # type: ignore[no-untyped-def]
    turns = read_corpus(tiny_corpus / "val.jsonl")
    n_prefixes = sum(len(t.words) for t in turns)
    assert tables.word.shape == (n_prefixes, WORD_DIM)
    assert tables.tick.shape == (len(tables.step), TICK_DIM)
    assert tables.cues.shape == (n_prefixes + len(turns), N_LATE)
    assert tables.embeddings.shape[1] == 384
    np.testing.assert_allclose(np.linalg.norm(tables.embeddings, axis=1), 1.0, atol=1e-4)
    assert np.isfinite(tables.word).all() and np.isfinite(tables.tick).all()
    assert set(np.unique(tables.y_end)) == {0.0, 1.0}
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(tables.step), 64)
    k = tables.step_k[idx].astype(np.int64)
    batch = tables.batch(idx, np.maximum(1, k - 1))
    assert batch["cur_emb"].shape == (64, 384) and batch["word"].shape == (64, WORD_DIM)
    assert (
        batch["tick"].shape == (64, TICK_DIM)
        and batch["pair"].shape == (64, PAIR_DIM)
        and batch["cont"].shape == (64, CONT_DIM)
    )
    end, stable = TurnModel(from_config("model/turn.yaml", "net"))(
        *(torch.from_numpy(batch[n]) for n in ("cur_emb", "ref_emb", "word", "tick", "pair", "cont"))
    )
    assert end.shape == stable.shape == (64,)


def test_live_predictor_sees_the_table_features(tiny_corpus: Path, tables) -> None:  # type: ignore[no-untyped-def]
    spec = corpus_spec()
    turn = read_corpus(tiny_corpus / "val.jsonl")[0]
    t_index = int(np.flatnonzero(tables.turn_ids == turn.id)[0])
    cache = make_embedding_cache(tiny_corpus, spec)
    predictor = TurnPredictor(TurnModel(from_config("model/turn.yaml", "net")), spec, cache)
    audio = load_turn_audio(turn, 16000)
    arrivals = [arrival_step(w.end) for w in turn.words]
    rows = np.flatnonzero(tables.step_turn == t_index)
    steps = dict(zip(tables.step[rows].tolist(), rows.tolist()))
    checked = 0
    for step in range(1, max(steps) + 1):
        predictor.push_audio(audio[(step - 1) * 160 : step * 160])
        for i, w in enumerate(turn.words):
            if arrivals[i] == step:
                predictor.push_word(w.word, w.start, w.end)
        if step in steps and step % 7 == 0:
            predictor.update(step / 100)
            row = steps[step]
            k = int(tables.step_k[row])
            last_end = np.array([turn.words[k - 1].end])
            np.testing.assert_allclose(
                tick_features(predictor.track, np.array([step]), last_end)[0], tables.tick[row], atol=1e-5
            )
            p = tables.prefix_offset[t_index] + k - 1
            np.testing.assert_allclose(predictor._word_feats[k - 1], tables.word[p], atol=1e-5)
            np.testing.assert_allclose(predictor._embs[k - 1], tables.embeddings[tables.emb_row[p]], atol=1e-6)
            checked += 1
    assert checked > 10


def test_word_features_use_only_audio_up_to_the_word(tiny_corpus: Path) -> None:
    turn = read_corpus(tiny_corpus / "val.jsonl")[1]
    audio = load_turn_audio(turn, 16000)
    full = FrameTrack.from_audio(audio)
    i = len(turn.words) // 2
    part = FrameTrack.from_audio(audio[: int(np.ceil(turn.words[i].end * 100)) * 160])
    np.testing.assert_allclose(
        word_features(part, turn.words, turn.tokens, i), word_features(full, turn.words, turn.tokens, i), atol=1e-6
    )


def test_embedder_is_deterministic_and_offline() -> None:
    embed = PrefixEmbedder()
    a, b = embed("i loved the movie"), embed("i loved the movie")
    assert a.shape == (384,) and np.array_equal(a, b)
    assert float(a @ embed("the film was great")) > float(a @ embed("what time does the bus leave"))
    assert prefix_text(["a", "b", "c", "d"], 3, 2) == "b c"


def test_labels_and_lexical_helpers(tiny_corpus: Path) -> None:
    turn = next(t for t in read_corpus(tiny_corpus / "train.jsonl") if t.pivot_word is not None)
    labels = stability_labels(turn)
    assert labels[: turn.complete_at - 1].max() == 0 and labels[turn.complete_at - 1 :].min() == 1
    cues = cumulative_late_cues(["i", "love", "it", "but", "not", "really"])
    assert cues.shape == (7, N_LATE) and cues[-1].sum() >= 2 and np.all(np.diff(cues, axis=0) >= 0)
    assert syllables("conversation") == 4 and syllables("the") == 1
