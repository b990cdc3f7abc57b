"""A few hundred training steps of the turn_quickstart config on a tiny corpus, through train(cfg)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from avatarlab.training import train
from tests.helpers.configs import turn_train_config


@pytest.mark.slow
def test_turn_config_trains(tiny_run: Path) -> None:
    assert (tiny_run / "checkpoints" / "final.ckpt").is_file()
    assert (tiny_run / "config.yaml").is_file()
    metrics = (tiny_run / "csv" / "metrics.csv").read_text()
    assert "val/auc_end" in metrics and "train/loss_end" in metrics
    ckpt = torch.load(tiny_run / "checkpoints" / "final.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["turn_feature_spec"]["version"] and ckpt["turn_model_config"]["hidden"] > 0
    assert ckpt["hyper_parameters"]["policy"]["commit_threshold"] > 0


@pytest.mark.slow
def test_training_learns_the_end_of_turn(tiny_run: Path) -> None:
    import csv

    rows = [r for r in csv.DictReader((tiny_run / "csv" / "metrics.csv").open()) if r.get("val/auc_end")]
    assert float(rows[-1]["val/auc_end"]) > 0.9
    assert float(rows[-1]["val/auc_stable"]) > 0.6


def test_missing_corpus_is_a_clear_error(tmp_path: Path) -> None:
    cfg = turn_train_config(tmp_path / "no_corpus", tmp_path / "run", ["trainer.max_steps=2"])
    with pytest.raises(SystemExit) as info:
        train(cfg)
    assert info.value.code == 2
