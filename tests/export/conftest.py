from __future__ import annotations

from pathlib import Path

import pytest

from avatarlab.avatar.testing import make_tiny_subject


@pytest.fixture(scope="session")
def tiny_subject(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 33-frame, 32 px subject in the prepared format, drawn with numpy (no tracker)."""
    return make_tiny_subject(tmp_path_factory.mktemp("avatar") / "tiny")
