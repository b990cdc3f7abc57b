"""Resumable, idempotent stages: each records the key it ran with; a rerun with the same key skips it."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from avatarlab.atomic import save_json

log = logging.getLogger(__name__)


def job_key(payload: dict[str, Any]) -> str:
    """A short, stable hash of everything that determines a job's outputs."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


class StageRunner:
    """Runs named stages in `root`, skipping those already done with the same key and outputs present."""

    def __init__(self, root: Path, key: str) -> None:
        self.root = root
        self.key = key
        self.state_dir = root / ".stages"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.ran: list[str] = []
        self.skipped: list[str] = []

    def done(self, name: str, outputs: list[str]) -> bool:
        marker = self.state_dir / f"{name}.json"
        if not marker.is_file():
            return False
        state = json.loads(marker.read_text())
        return state.get("key") == self.key and all((self.root / o).exists() for o in outputs)

    def state(self, name: str) -> dict[str, Any]:
        return json.loads((self.state_dir / f"{name}.json").read_text()).get("info", {})

    def run(self, name: str, outputs: list[str], action: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
        """Run `action` unless done; it writes `outputs` (atomically) and may return info to keep."""
        if self.done(name, outputs):
            log.info("stage %-10s up to date, skipped", name)
            self.skipped.append(name)
            return self.state(name)
        start = time.perf_counter()
        info = action() or {}
        save_json(
            self.state_dir / f"{name}.json",
            {"key": self.key, "info": info, "seconds": round(time.perf_counter() - start, 3)},
        )
        log.info("stage %-10s done in %.1f s", name, time.perf_counter() - start)
        self.ran.append(name)
        return info
