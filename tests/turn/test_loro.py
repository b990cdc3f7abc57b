"""Leave one recording out: each fold calibrates without its held-out recording, the test sets pool, a rerun
resumes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from avatarlab.cli import CONFIG_DIR
from avatarlab.config_args import config_values
from avatarlab.turn.calibrate import calibration_setup
from avatarlab.turn.format import read_corpus, write_corpus
from avatarlab.turn.loro import leave_one_recording_out


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
    node = OmegaConf.load(CONFIG_DIR / "calibration" / "default.yaml")
    node.generated, node.generated_limit = str(tiny_corpus / "val.jsonl"), 8
    node.trees.min_samples_leaf = 20
    run = {
        "base_bundle": tiny_bundle,
        "setup": calibration_setup(node),
        "word_delays": [0.0, 0.4],
        "bootstrap": 50,
        **config_values("turn_evaluate.yaml", "policy", "silence_timeout_s", "tail_s", "llm_first_words_s"),
    }
    results = leave_one_recording_out(real, tmp_path / "loro", **run)
    pooled = results["pooled"]
    assert pooled["recordings"] == ["rec0", "rec1"] and pooled["turns"] == 6
    for fold in pooled["folds"]:
        train_ids = {t.id for t in read_corpus(tmp_path / "loro" / "folds" / fold["recording"] / "train.jsonl")}
        held_out = {t.id for t in recorded if t.extra["recording"] == fold["recording"]}
        assert train_ids and not train_ids & held_out  # nothing of the held-out recording calibrates its fold
        manifest = json.loads((Path(fold["bundle"]) / "manifest.json").read_text())
        assert manifest["metadata"]["calibration"]["real_recordings"] == sorted({"rec0", "rec1"} - {fold["recording"]})
    for report in ("pooled", "base"):
        for name in ("results.json", "table.md", "cutoff_curve.png"):
            assert (tmp_path / "loro" / report / name).is_file()
    assert [d["rows"][0]["turns"] for d in pooled["by_delay"]] == [6, 6]
    assert results["base"]["by_delay"][0]["field"]["silence"]["end_auc"]["value"] == pytest.approx(
        pooled["by_delay"][0]["field"]["silence"]["end_auc"]["value"]
    )  # the silence baseline does not depend on the model
    capsys.readouterr()
    leave_one_recording_out(real, tmp_path / "loro", **run)  # a rerun finds every fold's bundle
    assert capsys.readouterr().out.count("fold already calibrated") == 2
    node.min_silence_s = 0.3  # another calibration: every fold is made again, with it
    again = leave_one_recording_out(real, tmp_path / "loro", **{**run, "setup": calibration_setup(node)})
    assert "fold already calibrated" not in capsys.readouterr().out
    for fold in again["pooled"]["folds"]:
        manifest = json.loads((Path(fold["bundle"]) / "manifest.json").read_text())
        assert manifest["config"]["policy"]["min_silence_s"] == 0.3
