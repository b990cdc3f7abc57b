"""Read and validate runtime bundles (avatarlab.export writes them).

A bundle is a directory::

    manifest.json        format version, model kind, resolved config, feature spec, metadata,
                         tensor shapes and dtypes, sha256 of every other file
    weights.safetensors  the model's tensors
    assets/...           anything else the runtime needs (images, arrays as .npy, text)

Reading needs neither Lightning nor the training data, and unpickles nothing. Bundles of an earlier
format version that can be read are migrated in memory (`MIGRATIONS`); any other version is refused
with the command that re-exports it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from avatarlab.errors import UserInputError
from avatarlab.hashing import sha256_file

BUNDLE_FORMAT_VERSION = 2
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
REEXPORT = "re-export it from its training run: python -m avatarlab.export run=RUN_DIR out=DIR"


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
            raise BundleError(f"bundle {self.path} has no asset {name!r}", REEXPORT)
        return path


def _from_version_1(manifest: dict[str, Any]) -> dict[str, Any]:
    """Version 1 avatar manifests left out `chunk_rays` (rays traced per batch) when the config did not set it."""
    if manifest.get("kind") == "avatar":
        manifest["config"]["model_args"].setdefault("chunk_rays", 16384)
    return manifest


# format version -> the function that brings a manifest of that version to the next one
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_version_1}


def migrate(manifest: dict[str, Any], root: Path) -> dict[str, Any]:
    """The manifest brought to BUNDLE_FORMAT_VERSION, or a BundleError saying how to re-export."""
    version = manifest.get("format_version")
    while version != BUNDLE_FORMAT_VERSION:
        if version not in MIGRATIONS:
            raise BundleError(
                f"{root} has bundle format version {version!r}; this avatarlab reads version"
                f" {BUNDLE_FORMAT_VERSION} (and migrates {sorted(MIGRATIONS)})",
                REEXPORT,
            )
        manifest = MIGRATIONS[version](manifest)
        version += 1
        manifest["format_version"] = version
    return manifest


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
        raise BundleError(f"{manifest_path} is not valid JSON ({e})", REEXPORT) from e
    if not isinstance(manifest, dict):
        raise BundleError(f"{manifest_path} is not a bundle manifest", REEXPORT)
    manifest = migrate(manifest, root)
    if kind is not None and manifest.get("kind") != kind:
        raise BundleError(f"{root} holds a {manifest.get('kind')!r} model, not a {kind!r} one", f"pass a {kind} bundle")
    for name, expected in manifest.get("files", {}).items():
        file = root / name
        if not file.is_file():
            raise BundleError(
                f"{root} is missing {name}", "re-export the bundle; do not edit bundle directories by hand"
            )
        if sha256_file(file) != expected:
            raise BundleError(f"{root}/{name} does not match its sha256 in the manifest (edited or corrupt)", REEXPORT)
    tensors = load_file(str(root / WEIGHTS))
    declared = manifest.get("tensors", {})
    if set(declared) != set(tensors):
        raise BundleError(
            f"{root}: weights hold {sorted(tensors)} but the manifest declares {sorted(declared)}", REEXPORT
        )
    for name, spec in declared.items():
        if list(tensors[name].shape) != spec["shape"]:
            raise BundleError(
                f"{root}: tensor {name} has shape {list(tensors[name].shape)}, manifest says {spec['shape']}", REEXPORT
            )
    return Bundle(path=root, manifest=manifest, tensors=tensors)
