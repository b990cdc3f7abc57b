from __future__ import annotations

from pathlib import Path

import pytest

from avatarlab.config_args import config_values
from avatarlab.export.__main__ import export
from avatarlab.training import train
from tests.helpers.configs import tiny_train_config


@pytest.fixture(scope="session")
def avatar_bundle(tiny_subject: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny subject's avatar, trained for a few steps and exported."""
    run = tmp_path_factory.mktemp("runtime_run")
    train(tiny_train_config("avatar_quickstart", tiny_subject, run, ["trainer.max_steps=3"]))
    options = config_values("export.yaml", "occupancy_threshold")
    return export(run, tmp_path_factory.mktemp("runtime_bundle") / "avatar", **options)
