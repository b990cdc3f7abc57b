"""The quick start (`make demo`): build the built-in subject, prepare it, and run every job on it.

Each step is the command a user would type; each is idempotent, so a rerun picks up where it stopped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "datasets"


@dataclass(frozen=True)
class Step:
    title: str
    args: list[str]
    output: Path


def steps() -> list[Step]:
    py = sys.executable
    return [
        Step("generate the built-in subject (60 s talking astronaut)", [py, "-m", "avatarlab.data.synthetic"], DATA / "astronaut_source" / "video.mp4"),
        Step("prepare it at 128 px", [py, "-m", "avatarlab.data.prepare", f"input={DATA / 'astronaut_source' / 'video.mp4'}", "name=astronaut", "size=128"], DATA / "astronaut" / "manifest.json"),
    ]


def run(step: Step, index: int, total: int) -> float:
    print(f"\n[{index}/{total}] {step.title}\n    $ {' '.join(str(a) for a in step.args)}", flush=True)
    start = time.perf_counter()
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(step.args, cwd=ROOT, env=env)
    if result.returncode != 0:
        print(f"demo stopped: step {index} failed (exit {result.returncode}); fix the cause and rerun `make demo` to resume", file=sys.stderr)
        sys.exit(result.returncode)
    return time.perf_counter() - start


def main() -> None:
    plan = steps()
    started = time.perf_counter()
    for i, step in enumerate(plan, 1):
        seconds = run(step, i, len(plan))
        print(f"    done in {seconds:.0f} s -> {step.output.relative_to(ROOT)}", flush=True)
    print(f"\ndemo finished in {(time.perf_counter() - started) / 60:.1f} min. Outputs:")
    for step in plan:
        print(f"  {step.output.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
