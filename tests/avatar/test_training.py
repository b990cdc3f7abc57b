"""A few training steps of every avatar experiment config, through train(cfg), on a tiny subject."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from avatarlab.avatar.lit import coarse_to_fine
from avatarlab.training import train
from tests.helpers.configs import AVATAR_EXPERIMENTS, tiny_train_config
from tests.helpers.symmetric_face import symmetric_face


def test_every_stage_and_ablation_has_a_config() -> None:
    for name in (
        "avatar_quickstart",
        "avatar_full",
        "avatar_stage_field",
        "avatar_stage_audio2kp",
        "avatar_stage_joint",
        "avatar_ablation_audio",
        "avatar_ablation_triplane",
    ):
        assert name in AVATAR_EXPERIMENTS


@pytest.mark.parametrize(
    "experiment",
    [e if e == "avatar_quickstart" else pytest.param(e, marks=pytest.mark.slow) for e in AVATAR_EXPERIMENTS],
)  # the fast lane trains the quickstart; the full suite every experiment
def test_experiment_trains_a_few_steps(experiment: str, tiny_subject: Path, tmp_path: Path) -> None:
    cfg = tiny_train_config(experiment, tiny_subject, tmp_path)
    metrics = train(cfg)
    assert (tmp_path / "checkpoints" / "final.ckpt").is_file()
    assert (tmp_path / "config.yaml").is_file()
    assert "train/loss" in metrics
    if cfg.model.train_field:
        assert "val/psnr" in metrics and metrics["val/psnr"] > 0
        assert list((tmp_path / "images").glob("*.png")), "validation image not written"
        assert list((tmp_path / "videos").glob("*.mp4")), "validation video not written"
    assert (tmp_path / "csv" / "metrics.csv").is_file()


@pytest.mark.slow
def test_stages_chain_through_checkpoints(tiny_subject: Path, tmp_path: Path) -> None:
    train(tiny_train_config("avatar_stage_field", tiny_subject, tmp_path / "field"))
    field_ckpt = tmp_path / "field" / "checkpoints" / "final.ckpt"
    train(
        tiny_train_config("avatar_stage_audio2kp", tiny_subject, tmp_path / "a2kp", [f"model.init_from={field_ckpt}"])
    )
    both = tmp_path / "a2kp" / "checkpoints" / "final.ckpt"
    metrics = train(
        tiny_train_config("avatar_stage_joint", tiny_subject, tmp_path / "joint", [f"model.init_from={both}"])
    )
    assert "train/psnr" in metrics
    field = torch.load(field_ckpt, map_location="cpu", weights_only=False)["state_dict"]
    a2kp = torch.load(both, map_location="cpu", weights_only=False)["state_dict"]
    head = [k for k in field if k.startswith("model.head.")]
    motion = [k for k in field if k.startswith("model.audio2kp.")]
    assert head and motion
    assert all(torch.equal(field[k], a2kp[k]) for k in head)  # stage 2 holds stage 1's field, untouched
    assert not all(torch.equal(field[k], a2kp[k]) for k in motion)  # and trained its own motion model


def test_missing_subject_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tiny_train_config("avatar_quickstart", tmp_path / "nowhere", tmp_path / "run")
    with pytest.raises(SystemExit) as exit_info:
        train(cfg)
    assert exit_info.value.code == 2


def test_the_surface_and_distortion_losses_train_and_are_logged(tiny_subject: Path, tmp_path: Path) -> None:
    metrics = train(tiny_train_config("avatar_real", tiny_subject, tmp_path, ["model.distortion_weight=0.01"]))
    assert "train/distortion" in metrics and float(metrics["train/distortion"]) >= 0
    assert "train/depth_error" in metrics and float(metrics["train/depth_error"]) >= 0


def test_a_surface_loss_without_surface_rays_is_refused(tiny_subject: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data.depth_rays"):
        train(tiny_train_config("avatar_real", tiny_subject, tmp_path, ["data.depth_rays=0"]))


def test_coarse_to_fine_fades_the_fine_levels_in_one_after_another() -> None:
    assert coarse_to_fine(0, 6, 2, 0) is None and coarse_to_fine(400, 6, 2, 400) is None
    torch.testing.assert_close(coarse_to_fine(0, 6, 2, 400), torch.tensor([1.0, 1, 0, 0, 0, 0]))
    torch.testing.assert_close(coarse_to_fine(200, 6, 2, 400), torch.tensor([1.0, 1, 1, 1, 0, 0]))
    halfway = coarse_to_fine(250, 6, 2, 400)  # 4.5 levels in: the fifth at the middle of its cosine ramp
    torch.testing.assert_close(halfway, torch.tensor([1.0, 1, 1, 1, 0.5, 0]))


def test_grid_decay_code_swap_and_coarse_to_fine_train_and_are_checked(tiny_subject: Path, tmp_path: Path) -> None:
    options = ["model.grid_decay_weight=0.1", "model.code_swap_weight=1"]
    options += ["model.coarse_to_fine_steps=1", "model.coarse_levels=2"]
    metrics = train(tiny_train_config("avatar_real", tiny_subject, tmp_path / "ok", options))
    assert float(metrics["train/grid_decay"]) > 0
    assert 0 < float(metrics["train/code_swap"]) < 1  # a squared colour error on skin rays
    with pytest.raises(SystemExit) as exit_info:  # the ramp must end before the last step
        train(tiny_train_config("avatar_real", tiny_subject, tmp_path / "late", ["model.coarse_to_fine_steps=10000"]))
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        train(tiny_train_config("avatar_real", tiny_subject, tmp_path / "bad", ["model.coarse_levels=0"]))
    audio = ["model.model.condition=audio", "model.code_swap_weight=1"]  # no keypoint expressions to swap
    with pytest.raises(SystemExit) as exit_info:
        train(tiny_train_config("avatar_real", tiny_subject, tmp_path / "audio", audio))
    assert exit_info.value.code == 2


def test_mirrored_views_train_on_a_symmetric_face_and_are_refused_on_another(
    tiny_subject: Path, tmp_path: Path
) -> None:
    subject = tmp_path / "symmetric"
    shutil.copytree(tiny_subject, subject)
    np.save(subject / "canonical.npy", symmetric_face(np.random.default_rng(0))[0].astype(np.float32))
    metrics = train(tiny_train_config("avatar_real", subject, tmp_path / "run", ["model.mirror_fraction=1.0"]))
    assert np.isfinite(float(metrics["train/loss"])) and float(metrics["train/mirror"]) > 0
    with pytest.raises(SystemExit) as exit_info:  # the tiny subject's face is random points: no mirror plane
        train(tiny_train_config("avatar_real", tiny_subject, tmp_path / "random", ["model.mirror_fraction=0.5"]))
    assert exit_info.value.code == 2
