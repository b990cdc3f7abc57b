"""Fixtures shared across folders: offline environment, the repository's shared recordings, a tiny subject, and
the tiny avatar and turn-predictor bundles made from them (each made once per session).

Fixtures one folder alone uses sit in that folder's conftest (tests/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_SILENT", "true")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repository; tests that need it skip with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared recordings not found at {SHARED_DATA} (they sit beside the repository, not in it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_subject(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 33-frame, 32 px subject in the prepared format, drawn with numpy (no tracker)."""
    from tests.helpers.tiny_subject import make_tiny_subject

    return make_tiny_subject(tmp_path_factory.mktemp("avatar") / "tiny")


@pytest.fixture(scope="session")
def avatar_bundle(tiny_subject: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny subject's avatar, trained for a few steps and exported."""
    from avatarlab.config_args import config_values
    from avatarlab.export.__main__ import export
    from avatarlab.training import train
    from tests.helpers.configs import tiny_train_config

    run = tmp_path_factory.mktemp("runtime_run")
    train(tiny_train_config("avatar_quickstart", tiny_subject, run, ["trainer.max_steps=3"]))
    options = config_values("export.yaml", "occupancy_threshold")
    return export(run, tmp_path_factory.mktemp("runtime_bundle") / "avatar", **options)


TINY_TURNS = 260


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred generated turns (train/val/test by family), with audio."""
    from avatarlab.turn.corpus import generate_corpus
    from tests.helpers.configs import corpus_args

    return generate_corpus(tmp_path_factory.mktemp("turn") / "corpus", **corpus_args(n_turns=TINY_TURNS, seed=11))


@pytest.fixture(scope="session")
def tiny_run(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short turn_quickstart training run on the tiny corpus (its output directory)."""
    import torch

    from avatarlab.training import train
    from tests.helpers.configs import turn_train_config

    out = tmp_path_factory.mktemp("turn_run") / "run"
    threads = torch.get_num_threads()
    train(turn_train_config(tiny_corpus, out))
    torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run's turn bundle."""
    from avatarlab.export.turn import export_run

    return export_run(tiny_run, tmp_path_factory.mktemp("turn_bundle") / "turn_tiny")
