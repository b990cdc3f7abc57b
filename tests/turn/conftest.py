"""Turn-predictor fixtures: a tiny generated corpus, a short training run on it, and its bundle (made once)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from avatarlab.turn.corpus import generate_corpus
from tests.helpers.configs import corpus_args, turn_train_config

TINY_TURNS = 260


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred generated turns (train/val/test by family), with audio."""
    return generate_corpus(tmp_path_factory.mktemp("turn") / "corpus", **corpus_args(n_turns=TINY_TURNS, seed=11))


@pytest.fixture(scope="session")
def tiny_run(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short turn_quickstart training run on the tiny corpus (its output directory)."""
    from avatarlab.training import train

    out = tmp_path_factory.mktemp("turn_run") / "run"
    threads = torch.get_num_threads()
    train(turn_train_config(tiny_corpus, out))
    torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from avatarlab.export.turn import export_run

    return export_run(tiny_run, tmp_path_factory.mktemp("turn_bundle") / "turn_tiny")
