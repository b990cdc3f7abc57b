"""Leave one recording out: each fold trains without its held-out recording, the test sets pool, a rerun resumes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from avatarlab.config_args import config_values
from avatarlab.turn.format import read_corpus, write_corpus
from avatarlab.turn.loro import leave_one_recording_out

FOLD_OVERRIDES = [
    "logger=csv",
    "data.val_samples=2000",
    "trainer.max_steps=30",
    "trainer.val_check_interval=30",
    "callbacks.model_checkpoint.every_n_train_steps=30",
]


@pytest.mark.slow
def test_folds_hold_out_whole_recordings_and_pool(
    tiny_corpus: Path, tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    turns = read_corpus(tiny_corpus / "test.jsonl")[:6]
    recorded = [
        dataclasses.replace(t, audio=Path(t.audio).resolve(), extra={**t.extra, "recording": f"rec{i % 2}"})
        for i, t in enumerate(turns)
    ]
    real = write_corpus(tmp_path / "real" / "conversations.jsonl", recorded)
    options = {
        **config_values("turn_evaluate.yaml", "policy", "silence_timeout_s", "tail_s", "llm_first_words_s"),
        **config_values("turn_loro.yaml", "experiment", "extra_share"),
    }
    run = {
        "base_bundle": tiny_bundle,
        "overrides": [f"data.corpus_dir={tiny_corpus}", *FOLD_OVERRIDES],
        "word_delays": [0.0, 0.4],
        "bootstrap": 50,
        **options,
    }
    results = leave_one_recording_out(real, tmp_path / "loro", **run)
    pooled = results["pooled"]
    assert pooled["recordings"] == ["rec0", "rec1"] and pooled["turns"] == 6
    for fold in pooled["folds"]:
        train_ids = {t.id for t in read_corpus(tmp_path / "loro" / "folds" / fold["recording"] / "train.jsonl")}
        held_out = {t.id for t in recorded if t.extra["recording"] == fold["recording"]}
        assert train_ids and not train_ids & held_out  # nothing of the held-out recording trains its fold
        assert (Path(fold["bundle"]) / "manifest.json").is_file()
    for report in ("pooled", "base"):
        for name in ("results.json", "table.md", "cutoff_curve.png"):
            assert (tmp_path / "loro" / report / name).is_file()
    assert [d["rows"][0]["turns"] for d in pooled["by_delay"]] == [6, 6]
    assert results["base"]["by_delay"][0]["field"]["silence"]["end_auc"]["value"] == pytest.approx(
        pooled["by_delay"][0]["field"]["silence"]["end_auc"]["value"]
    )  # the silence baseline does not depend on the model
    capsys.readouterr()
    leave_one_recording_out(real, tmp_path / "loro", **run)  # a rerun finds every fold's bundle: no training
    assert capsys.readouterr().out.count("fold already trained") == 2
