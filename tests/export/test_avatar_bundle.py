"""Export an avatar run, load the bundle with the runtime (no Lightning), render bit-identically; corrupt bundles
fail clearly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avatarlab.avatar.lit import load_checkpoint, model_from_checkpoint
from avatarlab.config_args import config_values
from avatarlab.export.__main__ import export
from avatarlab.runtime.avatar import Avatar, load_avatar_model
from avatarlab.runtime.bundle import BundleError
from avatarlab.training import train
from tests.helpers.configs import tiny_train_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained_run(tiny_subject: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run")
    train(tiny_train_config("avatar_quickstart", tiny_subject, run, ["trainer.max_steps=3"]))
    return run


@pytest.fixture()
def bundle(trained_run: Path, tmp_path: Path) -> Path:
    return export(trained_run, tmp_path / "bundle", **config_values("export.yaml", "occupancy_threshold"))


def test_export_load_render_is_bit_identical(trained_run: Path, bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["kind"] == "avatar" and manifest["format_version"] == 2
    assert "weights.safetensors" in manifest["files"] and "assets/background.png" in manifest["files"]
    assert manifest["feature_spec"]["audio"]["n_mels"] == 80
    before = Avatar(model_from_checkpoint(load_checkpoint(trained_run / "checkpoints" / "final.ckpt"), "cpu"))
    after = Avatar.from_bundle(bundle)
    for name, tensor in before.model.state_dict().items():
        assert torch.equal(tensor, after.model.state_dict()[name]), name
    mel = np.random.default_rng(0).normal(size=(4 * 6, 80)).astype(np.float32)
    codes_before, _ = before.codes_from_mel(mel)
    codes_after, _ = after.codes_from_mel(mel)
    frames_before = list(before.render_sequence(codes_before))
    frames_after = list(after.render_sequence(codes_after))
    assert all(np.array_equal(a, b) for a, b in zip(frames_before, frames_after))
    assert frames_before[0].dtype == np.uint8 and frames_before[0].shape == (32, 32, 3)


def test_loading_needs_no_lightning(bundle: Path) -> None:
    code = (
        "import sys; from avatarlab.runtime.avatar import load_avatar_model;"
        f" load_avatar_model({str(bundle)!r}); assert 'lightning' not in sys.modules, 'lightning imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_edited_weights_are_rejected(bundle: Path) -> None:
    weights = bundle / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        load_avatar_model(bundle)


def test_wrong_version_is_rejected(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["format_version"] = 99
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="format version 99"):
        load_avatar_model(bundle)


def test_missing_file_is_rejected(bundle: Path) -> None:
    (bundle / "assets" / "background.png").unlink()
    with pytest.raises(BundleError, match="missing assets/background.png"):
        load_avatar_model(bundle)


def test_wrong_kind_is_rejected(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["kind"] = "turn"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="not a 'avatar'"):
        load_avatar_model(bundle)


def test_reshaped_tensor_in_manifest_is_rejected(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["config"]["track_frames"] += 1  # the avatar now expects another pose-track length
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="the avatar needs"):
        load_avatar_model(bundle)


def test_cli_errors_exit_nonzero(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "avatarlab.export", f"run={tmp_path / 'nope'}", f"out={tmp_path / 'b'}"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2 and "no run directory" in result.stderr
    run = tmp_path / "turn_run"
    run.mkdir()
    (run / "config.yaml").write_text("model:\n  _target_: avatarlab.nosuchkind.Module\n")
    result = subprocess.run(
        [sys.executable, "-m", "avatarlab.export", f"run={run}", f"out={tmp_path / 'b'}"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2 and "no exporter for 'nosuchkind'" in result.stderr
