"""Bundle format versions: the current one loads, version 1 is migrated, any other is refused with the fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from avatarlab.runtime.avatar import load_avatar_model
from avatarlab.runtime.bundle import BUNDLE_FORMAT_VERSION, MANIFEST, BundleError, read_bundle


def copy_with_manifest(bundle: Path, tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / MANIFEST).read_text())
    change(manifest)
    (copy / MANIFEST).write_text(json.dumps(manifest))
    return copy


def test_current_version_loads(avatar_bundle: Path) -> None:
    bundle = read_bundle(avatar_bundle, kind="avatar")
    assert bundle.manifest["format_version"] == BUNDLE_FORMAT_VERSION == 2
    assert bundle.config["model_args"]["chunk_rays"] > 0


@pytest.mark.parametrize("version", [0, 3, 99, None, "2"])
def test_other_versions_are_refused_with_the_re_export_command(
    avatar_bundle: Path, tmp_path: Path, version: object
) -> None:
    copy = copy_with_manifest(avatar_bundle, tmp_path, lambda m: m.update(format_version=version))
    with pytest.raises(BundleError, match=f"bundle format version {version!r}; this avatarlab reads version 2") as e:
        read_bundle(copy)
    assert "python -m avatarlab.export run=RUN_DIR out=DIR" in e.value.fix


def test_version_1_avatar_bundles_are_migrated(avatar_bundle: Path, tmp_path: Path) -> None:
    def as_version_1(manifest: dict) -> None:  # type: ignore[type-arg]
        manifest["format_version"] = 1
        del manifest["config"]["model_args"]["chunk_rays"]  # version 1 left it out when the config did

    copy = copy_with_manifest(avatar_bundle, tmp_path, as_version_1)
    bundle = read_bundle(copy, kind="avatar")
    assert bundle.manifest["format_version"] == 2 and bundle.config["model_args"]["chunk_rays"] == 16384
    assert load_avatar_model(copy).chunk_rays == 16384


def test_a_manifest_that_is_not_an_object_is_refused(avatar_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(avatar_bundle, copy)
    (copy / MANIFEST).write_text("[1, 2]")
    with pytest.raises(BundleError, match="is not a bundle manifest"):
        read_bundle(copy)
