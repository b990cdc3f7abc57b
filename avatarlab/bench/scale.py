"""Long videos: `python -m avatarlab.bench.scale [lengths=60,300] [size=128] [experiment=avatar_real] [steps=300]`
(the preparation's time and memory against the video's length, and the training's memory).

Generates the built-in subject at each length (seconds), prepares each at `size` px, and trains `experiment` on
the longest for `steps` steps (the training's memory is set by the frames it holds, not by how long it runs; pass
steps=0 for the config's own). Prints, per length, the preparation's minutes, its seconds per second of video and
its peak memory, and the training's peak memory and seconds per step; writes them to OUT/scale.json. Every step
is skipped when its output exists (delete it to redo it); an interrupted training resumes from its checkpoint.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avatarlab.atomic import save_json
from avatarlab.cli import checked, key_value_options
from avatarlab.errors import UserInputError, exit_with
from avatarlab.steps import Step, StepCost, run_measured

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = {
    "lengths": "60,300",
    "size": 128,
    "experiment": "avatar_real",
    "steps": 300,
    "out": str(ROOT / "outputs" / "scale"),
    "work": str(ROOT),  # the videos and prepared subjects go to WORK/datasets, the run to WORK/logs/scale
    "overrides": "",  # train.py overrides, space-separated
}


@dataclass(frozen=True)
class ScaleStep:
    """A step of the benchmark and what its cost measures: "generate", "prepare" or "train" a `seconds` long video."""

    step: Step
    kind: str
    seconds: int


def subject_dir(work: Path, seconds: int, size: int) -> Path:
    return work / "datasets" / f"scale_{seconds}s_{size}"


def plan(
    py: str, lengths: list[int], size: int, experiment: str, steps: int, overrides: list[str], work: Path
) -> list[ScaleStep]:
    """Generate and prepare every length, then train on the longest."""
    out: list[ScaleStep] = []
    for seconds in lengths:
        source, subject = work / "datasets" / f"scale_source_{seconds}s", subject_dir(work, seconds, size)
        generate = [py, "-m", "avatarlab.data.synthetic", f"seconds={seconds}", f"out_dir={source}"]
        prepare = [py, "-m", "avatarlab.data.prepare", f"input={source / 'video.mp4'}", f"name={subject.name}",
                   f"size={size}", f"out_dir={subject}"]  # fmt: skip
        out += [
            ScaleStep(Step(f"generate the built-in subject, {seconds} s", generate, source / "video.mp4"),
                      "generate", seconds),
            ScaleStep(Step(f"prepare it at {size} px", prepare, subject / "manifest.json"), "prepare", seconds),
        ]  # fmt: skip
    longest = max(lengths)
    run_dir = work / "logs" / "scale" / f"{experiment}_{longest}s_{size}"
    limit = [f"trainer.max_steps={steps}"] if steps else []
    train = [py, "train.py", f"experiment={experiment}", f"data.subject_dir={subject_dir(work, longest, size)}",
             f"hydra.run.dir={run_dir}", "ckpt_path=last", *overrides, *limit]  # fmt: skip
    title = f"train {experiment} on the {longest} s subject" + (f" for {steps} steps" if steps else "")
    out.append(ScaleStep(Step(title, train, run_dir / "checkpoints" / "final.ckpt"), "train", longest))
    return out


def table(costs: dict[str, Any]) -> str:
    lines = [
        "| video | frames | prepare (min) | prepare, s per s of video | prepare peak memory (GB) |",
        "|---|---|---|---|---|",
    ]
    for seconds, row in costs["prepare"].items():
        lines.append(
            f"| {seconds} s | {row['frames']} | {row['seconds'] / 60:.1f} | {row['seconds'] / float(seconds):.2f} "
            f"| {row['peak_memory_gb']:.2f} |"
        )
    train = costs.get("train")
    if train:
        pace = (f"{train['seconds'] / train['steps']:.2f} s per step over {train['steps']} steps (with start-up)"
                if train["steps"] else f"{train['seconds'] / 60:.1f} min for the config's steps")  # fmt: skip
        lines.append(
            f"\ntraining on the {train['video_s']} s subject: peak memory {train['peak_memory_gb']:.2f} GB, {pace}"
        )
    return "\n".join(lines)


def main() -> None:
    try:
        options = key_value_options(sys.argv[1:], DEFAULTS)
        lengths = sorted({checked("lengths", v, int, minimum=2) for v in str(options["lengths"]).split(",") if v})
        if not lengths:
            raise UserInputError("no lengths given", "pass lengths=60,300 (seconds of video)")
        size = checked("size", options["size"], int, minimum=32)
        experiment = str(options["experiment"])
        if not (ROOT / "configs" / "experiment" / f"{experiment}.yaml").is_file():
            raise UserInputError(f"no experiment config {experiment!r}", "see configs/experiment/ for the names")
        steps = checked("steps", options["steps"], int, minimum=0)
        overrides = str(options["overrides"]).split()
        out, work = Path(options["out"]), Path(options["work"]).resolve()
    except UserInputError as error:
        exit_with(error)
    record = out / "scale.json"
    costs: dict[str, Any] = json.loads(record.read_text()) if record.is_file() else {"prepare": {}}
    job = plan(sys.executable, lengths, size, experiment, steps, overrides, work)
    for i, planned in enumerate(job, 1):
        cost = run_measured(planned.step, i, len(job), ROOT, "python -m avatarlab.bench.scale")
        if cost is not None:
            print(f"    done in {cost.seconds / 60:.1f} min, peak memory {cost.peak_memory_gb:.2f} GB", flush=True)
            note(costs, planned, cost, steps)
            save_json(record, costs)
    print(f"\n{experiment} at {size} px:\n\n{table(costs)}\n\nfigures: {record}")


def note(costs: dict[str, Any], planned: ScaleStep, cost: StepCost, steps: int) -> None:
    """Keep a preparation's or the training's cost (generation is not counted)."""
    if planned.kind == "prepare":
        frames = json.loads(planned.step.output.read_text())["num_frames"]
        costs["prepare"][str(planned.seconds)] = {
            "seconds": cost.seconds,
            "peak_memory_gb": cost.peak_memory_gb,
            "frames": frames,
        }
    elif planned.kind == "train":
        costs["train"] = {
            "video_s": planned.seconds,
            "steps": steps,
            "seconds": cost.seconds,
            "peak_memory_gb": cost.peak_memory_gb,
        }


if __name__ == "__main__":
    main()
