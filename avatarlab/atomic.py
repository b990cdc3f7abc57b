"""Atomic outputs: write under a temporary name, rename when complete, so nothing is half-written."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from avatarlab.errors import UserInputError


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed.

    Works for files and directories alike (a directory replaces an existing one whole); a file never
    replaces a directory, nor a directory a file.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserInputError(
            f"cannot create the folder {final.parent} for {final.name}: {error.strerror}",
            "choose an output path in a writable folder",
        ) from error
    tmp = _temporary_sibling(final)
    try:
        yield tmp
        if final.exists() and final.is_dir() != tmp.is_dir():
            kind = "folder" if final.is_dir() else "file"
            raise UserInputError(
                f"{final} already exists as a {kind}", f"choose another output path, or remove that {kind}"
            )
        if final.is_dir() and tmp.is_dir():
            old = _temporary_sibling(final)
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """np.save, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def save_json(path: str | os.PathLike, data: Any) -> None:
    """json.dump (indented, sorted), atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
