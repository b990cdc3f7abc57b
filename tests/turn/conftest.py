"""Turn-predictor fixtures: a tiny generated corpus, a short training run on it, and its bundle (made once)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from avatarlab.cli import CONFIG_DIR
from avatarlab.turn.corpus import generate_corpus

TINY_TURNS = 260
TINY_STEPS = 400


def turn_train_config(corpus: Path, out: Path, overrides: list[str] | None = None) -> DictConfig:
    """The turn_quickstart experiment on a tiny corpus: csv logging, a few hundred steps."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "experiment=turn_quickstart",
                "logger=csv",
                f"data.corpus_dir={corpus}",
                "data.val_samples=4000",
                f"trainer.max_steps={TINY_STEPS}",
                "trainer.val_check_interval=200",
                "callbacks.model_checkpoint.every_n_train_steps=200",
                *(overrides or []),
            ],
            return_hydra_config=True,
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.paths.log_dir = str(out.parent)
        del cfg["hydra"]
    return cfg


@pytest.fixture(scope="session")
def turn_config():  # type: ignore[no-untyped-def]
    """turn_train_config, for tests that build their own run."""
    return turn_train_config


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred generated turns (train/val/test by family), with audio."""
    return generate_corpus(tmp_path_factory.mktemp("turn") / "corpus", n_turns=TINY_TURNS, seed=11)


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
