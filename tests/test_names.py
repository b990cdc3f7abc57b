"""Names given on a command line stay names: a path in one is refused before anything is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from avatarlab.cli import checked_name
from avatarlab.errors import UserInputError
from avatarlab.training import check_names


@pytest.mark.parametrize("name", ["me", "astronaut_128", "run-2", "v1.2", "A"])
def test_plain_names_pass(name: str) -> None:
    assert checked_name("name", name) == name


@pytest.mark.parametrize(
    "name", ["", "../../x", "..", "a/b", "/abs", "a\\b", ".hidden", "-x", "a..b", "a b", "é", None]
)
def test_anything_else_is_refused_with_the_fix(name: str | None) -> None:
    with pytest.raises(UserInputError, match=r"^name=.* is not a plain name\n  fix: pass name=NAME made of letters"):
        checked_name("name", name)


def test_training_checks_the_names_that_become_folders() -> None:
    csv = {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": ".", "name": "csv", "version": ""}
    wandb = {"_target_": "lightning.pytorch.loggers.WandbLogger", "save_dir": ".", "name": "any label at all"}
    check_names(OmegaConf.create({"task_name": "avatar_quickstart", "logger": {"csv": csv, "wandb": wandb}}))
    with pytest.raises(UserInputError, match=r"task_name='\.\./x' is not a plain name"):
        check_names(OmegaConf.create({"task_name": "../x"}))
    with pytest.raises(UserInputError, match=r"logger\.csv\.name='\.\./\.\./x' is not a plain name"):
        check_names(OmegaConf.create({"task_name": "t", "logger": {"csv": {**csv, "name": "../../x"}}}))


def files_under(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


def run_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AVATARLAB_ROOT"}  # paths resolve under cwd
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """tmp_path/project/ as the working folder, with a 3 s video with sound that prepare accepts as input."""
    folder = tmp_path / "project"
    folder.mkdir()
    video = tmp_path / "input.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=25:duration=3"]
        + ["-f", "lavfi", "-i", "sine=frequency=220:duration=3", "-shortest", str(video)],
        check=True,
    )
    return folder


def test_prepare_refuses_a_path_as_name_and_writes_nothing(project: Path) -> None:
    before = files_under(project.parent)
    result = run_in(project, "-m", "avatarlab.data.prepare", f"input={project.parent / 'input.mp4'}", "name=../x")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "error: name='../x' is not a plain name" in result.stderr and "Traceback" not in result.stderr
    assert files_under(project.parent) == before  # neither project/datasets nor the x beside project


def test_train_refuses_a_path_as_run_name_before_hydra_makes_the_run_folder(project: Path) -> None:
    before = files_under(project.parent)
    for override in ("task_name=../../x", "++task_name=a/b"):
        result = run_in(project, "-m", "avatarlab.train", override)
        assert result.returncode == 2, result.stderr[-2000:]
        assert "is not a plain name" in result.stderr and "Traceback" not in result.stderr
    assert files_under(project.parent) == before  # no logs/, no x beside project
