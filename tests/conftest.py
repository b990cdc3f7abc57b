"""Fixtures shared across folders: offline environment, the repository's shared recordings, a tiny subject.

Fixtures one folder alone uses sit in that folder's conftest (tests/data, tests/turn)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_SILENT", "true")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repository; tests that need it skip with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared recordings not found at {SHARED_DATA} (they sit beside the repository, not in it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_subject(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 33-frame, 32 px subject in the prepared format, drawn with numpy (no tracker)."""
    from tests.helpers.tiny_subject import make_tiny_subject

    return make_tiny_subject(tmp_path_factory.mktemp("avatar") / "tiny")
