"""Write, read and validate runtime bundles.

A bundle is a directory::

    manifest.json        format version, model kind, resolved config, feature spec, metadata,
                         tensor shapes and dtypes, sha256 of every other file
    weights.safetensors  the model's tensors
    assets/...           anything else the runtime needs (images, arrays as .npy, text)

Reading needs neither Lightning nor the training data, and unpickles nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from avatarlab import __version__
from avatarlab.atomic import atomic_path
from avatarlab.errors import UserInputError
from avatarlab.hashing import sha256_file

BUNDLE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"


class BundleError(UserInputError):
    """A bundle that is missing, corrupt, or of another kind or version."""


@dataclass
class Bundle:
    """A loaded bundle: its manifest, its tensors (CPU), and where its assets are."""

    path: Path
    manifest: dict[str, Any]
    tensors: dict[str, torch.Tensor] = field(repr=False)

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    @property
    def metadata(self) -> dict[str, Any]:
        return self.manifest.get("metadata", {})

    @property
    def feature_spec(self) -> dict[str, Any]:
        return self.manifest.get("feature_spec", {})

    def asset(self, name: str) -> Path:
        path = self.path / "assets" / name
        if not path.exists():
            raise BundleError(f"bundle {self.path} has no asset {name!r}", "re-export the bundle")
        return path


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


def read_bundle(path: str | Path, kind: str | None = None) -> Bundle:
    """Load and validate a bundle: format version, kind, every file's sha256, tensor shapes."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise BundleError(
            f"no bundle directory at {root}", "export one with `python -m avatarlab.export run=RUN_DIR out=DIR`"
        )
    if not manifest_path.is_file():
        raise BundleError(f"{root} has no {MANIFEST}", "point at a directory written by avatarlab's export")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as e:
        raise BundleError(f"{manifest_path} is not valid JSON ({e})", "re-export the bundle") from e
    version = manifest.get("format_version")
    if version != BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"{root} has bundle format version {version!r}; this avatarlab reads version {BUNDLE_FORMAT_VERSION}",
            "re-export the bundle with this version of avatarlab",
        )
    if kind is not None and manifest.get("kind") != kind:
        raise BundleError(f"{root} holds a {manifest.get('kind')!r} model, not a {kind!r} one", f"pass a {kind} bundle")
    for name, expected in manifest.get("files", {}).items():
        file = root / name
        if not file.is_file():
            raise BundleError(
                f"{root} is missing {name}", "re-export the bundle; do not edit bundle directories by hand"
            )
        if sha256_file(file) != expected:
            raise BundleError(
                f"{root}/{name} does not match its sha256 in the manifest (edited or corrupt)", "re-export the bundle"
            )
    tensors = load_file(str(root / WEIGHTS))
    declared = manifest.get("tensors", {})
    if set(declared) != set(tensors):
        raise BundleError(
            f"{root}: weights hold {sorted(tensors)} but the manifest declares {sorted(declared)}",
            "re-export the bundle",
        )
    for name, spec in declared.items():
        if list(tensors[name].shape) != spec["shape"]:
            raise BundleError(
                f"{root}: tensor {name} has shape {list(tensors[name].shape)}, manifest says {spec['shape']}",
                "re-export the bundle",
            )
    return Bundle(path=root, manifest=manifest, tensors=tensors)
