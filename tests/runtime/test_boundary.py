"""The runtime layer loads without training code: no Lightning, no Hydra, no exporters, no command lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import avatarlab

PACKAGE = Path(avatarlab.__file__).resolve().parent
FORBIDDEN = ("lightning", "pytorch_lightning", "hydra", "avatarlab.export", "avatarlab.cli", "avatarlab.training")


def modules_under(folder: str) -> list[str]:
    return sorted(
        "avatarlab." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        for p in (PACKAGE / folder).rglob("*.py")
    )


def import_with_forbidden(modules: list[str]) -> subprocess.CompletedProcess[str]:
    """Import `modules` in a fresh interpreter in which importing any FORBIDDEN package raises."""
    code = f"""
import importlib, importlib.abc, sys
FORBIDDEN = {FORBIDDEN!r}
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
            raise ImportError(f"the runtime must not import {{name}}")
        return None
sys.meta_path.insert(0, Refuse())
for module in {modules!r}:
    importlib.import_module(module)
print("imported", len({modules!r}))
"""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_every_runtime_module_imports_without_training_code() -> None:
    modules = modules_under("runtime") + modules_under("spec")
    assert "avatarlab.runtime.streaming_avatar" in modules and "avatarlab.runtime.turn_predictor" in modules
    result = import_with_forbidden(modules)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"imported {len(modules)}" in result.stdout


def test_the_guard_catches_a_forbidden_import() -> None:
    result = import_with_forbidden(["avatarlab.export.avatar"])
    assert result.returncode != 0 and "must not import" in result.stderr


def test_the_spec_leaf_imports_nothing_else_of_avatarlab() -> None:
    for path in (PACKAGE / "spec").rglob("*.py"):
        imports = [line for line in path.read_text().splitlines() if line.startswith(("from avatarlab", "import "))]
        assert all(line.startswith(("from avatarlab.spec", "import ")) for line in imports), (path, imports)
