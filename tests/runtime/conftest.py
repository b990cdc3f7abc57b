from __future__ import annotations

from pathlib import Path

import pytest

from avatarlab.avatar.config_testing import tiny_train_config
from avatarlab.avatar.testing import make_tiny_subject
from avatarlab.export.__main__ import export
from avatarlab.training import train


@pytest.fixture(scope="session")
def avatar_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny avatar trained for a few steps and exported."""
    subject = make_tiny_subject(tmp_path_factory.mktemp("runtime_subject") / "tiny")
    run = tmp_path_factory.mktemp("runtime_run")
    train(tiny_train_config("avatar_quickstart", subject, run, ["trainer.max_steps=3"]))
    return export(run, tmp_path_factory.mktemp("runtime_bundle") / "avatar")
