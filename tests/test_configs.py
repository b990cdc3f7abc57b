"""Every config composes, and every object it names can be built."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from avatarlab.cli import CONFIG_DIR

EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))


def _compose(name: str, overrides: list[str], tmp_path: Path):  # type: ignore[no-untyped-def]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
        cfg.paths.log_dir = str(tmp_path)
        del cfg["hydra"]
    return cfg


def test_default_experiment_exists() -> None:
    default = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "train.yaml").defaults)
    chosen = next(d["experiment"] for d in default if isinstance(d, dict) and "experiment" in d)
    assert chosen in EXPERIMENTS


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_train_config_instantiates(experiment: str, tmp_path: Path) -> None:
    cfg = _compose("train", [f"experiment={experiment}"], tmp_path)
    OmegaConf.resolve(cfg)
    assert cfg.task_name and cfg.trainer._target_
    for group in ("callbacks", "logger"):
        for node in cfg[group].values():
            assert instantiate(node) is not None
    if cfg.trainer.get("accelerator") == "gpu" and not torch.cuda.is_available():
        with open_dict(cfg):  # a GPU config is built on the CPU here; its other settings still apply
            cfg.trainer.update(accelerator="cpu", devices=1, strategy="auto", precision="32-true")
    assert instantiate(cfg.trainer, logger=False, enable_checkpointing=False, callbacks=[]) is not None
    assert instantiate(cfg.data) is not None
    assert instantiate(cfg.model) is not None


@pytest.mark.parametrize(
    "name,overrides", [("prepare", ["input=video.mp4", "name=me"]), ("synthetic", []), ("serve", [])]
)
def test_command_configs_compose(name: str, overrides: list[str], tmp_path: Path) -> None:
    cfg = _compose(name, overrides, tmp_path)
    OmegaConf.resolve(cfg)
    if "params" in cfg:
        assert instantiate(cfg.params) is not None


def test_hydra_does_not_change_directory(tmp_path: Path) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", return_hydra_config=True)
    assert cfg.hydra.job.chdir is False


def test_one_owner_of_cv2() -> None:
    from importlib.metadata import PackageNotFoundError, distribution

    owners = []
    for name in ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"):
        try:
            distribution(name)
            owners.append(name)
        except PackageNotFoundError:
            pass
    assert owners == ["opencv-contrib-python"], owners
