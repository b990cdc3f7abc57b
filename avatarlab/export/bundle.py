"""Write runtime bundles (the format, and its reader, are in avatarlab.runtime.bundle)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from avatarlab import __version__
from avatarlab.atomic import atomic_path
from avatarlab.errors import UserInputError
from avatarlab.hashing import sha256_file
from avatarlab.runtime.bundle import BUNDLE_FORMAT_VERSION, MANIFEST, WEIGHTS


def write_bundle(
    out_dir: str | Path,
    kind: str,
    tensors: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    feature_spec: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    assets: Mapping[str, str | Path] | None = None,
) -> Path:
    """Write a bundle atomically (a temporary directory renamed into place) and return its path.

    `assets` maps a name inside assets/ to a file to copy there.
    """
    out = Path(out_dir)
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise UserInputError(
            f"{out} exists and is not a bundle; exporting there would replace everything in it",
            "pass out=bundles/NEW_NAME (a new folder, or an earlier bundle to overwrite)",
        )
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        weights = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
        save_file(weights, str(tmp / WEIGHTS))
        if assets:
            (tmp / "assets").mkdir()
            for name, source in assets.items():
                target = tmp / "assets" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        manifest = {
            "format_version": BUNDLE_FORMAT_VERSION,
            "kind": kind,
            "avatarlab_version": __version__,
            "config": dict(config),
            "feature_spec": dict(feature_spec or {}),
            "metadata": dict(metadata or {}),
            "tensors": {
                n: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")} for n, t in weights.items()
            },
            "files": {str(p.relative_to(tmp)): sha256_file(p) for p in files},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out
