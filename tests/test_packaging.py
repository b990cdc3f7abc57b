"""The package installs on its own: every subpackage and the configs go in; commands run outside the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

import avatarlab
from avatarlab.cli import config_dir

REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path(avatarlab.__file__).resolve().parent


def test_every_subpackage_and_the_configs_are_declared() -> None:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {
        ".".join(("avatarlab", *p.parent.relative_to(PACKAGE).parts)) for p in PACKAGE.rglob("*.py")
    }  # every folder of avatarlab with Python in it
    assert set(setuptools["packages"]) == folders | {"avatarlab.configs"}
    assert setuptools["package-dir"] == {"avatarlab.configs": "configs"}
    assert "**/*.yaml" in setuptools["package-data"]["avatarlab.configs"]
    assert (REPO / "configs" / "__init__.py").is_file()


def test_configs_are_found_through_the_package() -> None:
    import avatarlab.configs  # the editable install (`make setup`) maps the package to configs/

    assert Path(avatarlab.configs.__file__).parent == REPO / "configs" == Path(config_dir())
    assert (Path(config_dir()) / "train.yaml").is_file()


def fresh_venv(root: Path) -> Path:
    """A virtual environment without avatarlab that sees this one's dependencies (torch, Hydra, ...), not its
    editable avatarlab: a .pth adds this site-packages as a plain folder, so its own .pth files stay unread."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.mark.slow
def test_a_non_editable_install_runs_outside_the_checkout(tiny_subject: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("avatarlab", "configs"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    python = fresh_venv(tmp_path / "venv")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    shutil.rmtree(source)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AVATARLAB_ROOT")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=outside, env=env, capture_output=True, text=True, timeout=300)

    where = run(
        str(python), "-c", "import avatarlab, avatarlab.cli as c; print(avatarlab.__file__); print(c.config_dir())"
    )
    assert where.returncode == 0, where.stderr[-2000:]
    module, configs = where.stdout.split()
    installed = tmp_path / "venv" / "lib"
    assert Path(module).is_relative_to(installed) and Path(configs).is_relative_to(installed)
    assert (Path(configs) / "experiment" / "avatar_quickstart.yaml").is_file()

    for command, expected in (
        ("avatarlab.data.prepare", "name: ???"),
        ("avatarlab.render", "bundle: ???"),
        ("avatarlab.turn.evaluate", "commit_threshold"),
        ("avatarlab.train", "turn_quickstart"),  # the experiment group's options are listed
    ):
        result = run(str(python), "-m", command, "--help")
        assert result.returncode == 0, (command, result.stderr[-2000:])
        assert expected in result.stdout, (command, result.stdout[-2000:])
    train = run(str(tmp_path / "venv" / "bin" / "avatarlab-train"), "--help")
    assert train.returncode == 0 and "== Configuration groups ==" in train.stdout, train.stderr[-2000:]
    assert list(outside.iterdir()) == []  # --help writes nothing

    from avatarlab.config_args import config_values
    from avatarlab.export.__main__ import export
    from avatarlab.training import train as train_run
    from tests.helpers.configs import tiny_train_config

    train_run(tiny_train_config("avatar_quickstart", tiny_subject, tmp_path / "run", ["trainer.max_steps=2"]))
    bundle = export(tmp_path / "run", tmp_path / "bundle", **config_values("export.yaml", "occupancy_threshold"))
    audio = f"audio={tiny_subject / 'audio.wav'}"
    render = run(str(python), "-m", "avatarlab.render", f"bundle={bundle}", audio, "out=hello.mp4", "max_seconds=0.4")
    assert render.returncode == 0, render.stderr[-2000:]
    assert "(10 frames," in render.stdout and (outside / "hello.mp4").stat().st_size > 0
