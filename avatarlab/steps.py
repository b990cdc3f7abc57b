"""A job made of commands a user would type, each skipped when its output exists (`make demo`, the realism
benchmark): a rerun picks up where the last one stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Step:
    title: str
    args: list[str]
    output: Path


def relative(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else path


@dataclass(frozen=True)
class StepCost:
    seconds: float
    peak_memory_gb: float  # the largest resident set of the step's process or of any child it waited for


def run(step: Step, index: int, total: int, root: Path, rerun: str) -> float | None:
    """Run one step in `root`; its seconds, or None when its output is already there. A failing step ends the
    job with its exit code and says that `rerun` resumes it."""
    cost = run_measured(step, index, total, root, rerun)
    return None if cost is None else cost.seconds


def run_measured(step: Step, index: int, total: int, root: Path, rerun: str) -> StepCost | None:
    """run(), with the step's peak memory beside its seconds."""
    print(f"\n[{index}/{total}] {step.title}", flush=True)
    if step.output.exists():
        print(f"    already done: {relative(step.output, root)} exists (delete it to redo this step)", flush=True)
        return None
    print(f"    $ {' '.join(str(a) for a in step.args)}", flush=True)
    start = time.perf_counter()
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline"), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(step.args, cwd=root, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        print(
            f"stopped: step {index} failed (exit {process.returncode}); fix the cause and rerun `{rerun}` to resume",
            file=sys.stderr,
        )
        sys.exit(process.returncode)
    return StepCost(time.perf_counter() - start, usage.ru_maxrss / 2**20)  # ru_maxrss: KiB on Linux
