"""The avatar on a real face: `python -m avatarlab.bench.realism [video=...] [size=128] [experiments=...]`.

Prepares the shared real clip (an 8 s HDTF-style clip of a woman speaking to camera, never tuned on), trains each
experiment config on it, evaluates each on the held-out frames (the clip's last 2 s) and prints the figures side
by side: PSNR and SSIM with tracked keypoints and driven from audio, LMD, both lip-sync readings, the skin artifact
ratio, and the fast render path against the training-like reference. Each run's frame strip (real | tracked |
audio-driven | reference, with the face zoomed) is in its eval folder; all of them are stacked into
OUT/frame_strips.png and the figures written to OUT/realism.json. Every step is skipped when its output exists
(delete it to redo it), and an interrupted training resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from avatarlab.atomic import atomic_path, save_json
from avatarlab.cli import checked, checked_name, key_value_options
from avatarlab.errors import UserInputError, exit_with
from avatarlab.steps import Step, run

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = {
    "video": str(ROOT.parent / "shared" / "data" / "hdtf_katie_8s.mp4"),
    "size": 128,
    "experiments": "avatar_quickstart,avatar_real",
    "out": str(ROOT / "outputs" / "realism"),
    "work": str(ROOT),  # the prepared clip goes to WORK/datasets, the runs to WORK/logs/realism
    "overrides": "",  # train.py overrides for every run, space-separated
}
FIGURES = [  # (metrics.json key, label)
    ("psnr", "PSNR tracked (dB)"),
    ("psnr_audio", "PSNR audio (dB)"),
    ("ssim", "SSIM tracked"),
    ("ssim_audio", "SSIM audio"),
    ("lmd", "LMD tracked (px)"),
    ("lmd_audio", "LMD audio (px)"),
    ("lip_sync_robust_audio", "lip sync, robust (audio; real = 1)"),
    ("lip_sync_robust_still", "lip sync, robust, a still mouth (the head's motion alone)"),
    ("lip_sync_dark_ratio", "lip sync, mouth darkness (audio / real)"),
    ("artifact_ratio", "skin artifact ratio tracked (real = 1)"),
    ("artifact_ratio_audio", "skin artifact ratio audio"),
    ("psnr_reference", "PSNR reference path (dB)"),
    ("psnr_fast_vs_reference", "fast path vs reference (dB)"),
    ("render_fps", "fast path (frames/s)"),
    ("render_fps_reference", "reference path (frames/s)"),
]


def subject_name(video: Path, size: int) -> str:
    return f"realism_{checked_name('video', video.stem)}_{size}"


def run_folder(work: Path, subject: str, experiment: str) -> Path:
    return work / "logs" / "realism" / f"{subject}_{experiment}"


def plan(py: str, video: Path, size: int, experiments: list[str], overrides: list[str], work: Path) -> list[Step]:
    """prepare once, then train and evaluate each experiment."""
    name = subject_name(video, size)
    subject = work / "datasets" / name
    steps = [
        Step(
            f"prepare {video.name} at {size} px",
            [
                py,
                "-m",
                "avatarlab.data.prepare",
                f"input={video}",
                f"name={name}",
                f"size={size}",
                f"out_dir={subject}",
            ],  # fmt: skip
            subject / "manifest.json",
        )
    ]
    for experiment in experiments:
        run_dir = run_folder(work, name, experiment)
        steps += [
            Step(
                f"train {experiment} on it",
                [
                    py,
                    "train.py",
                    f"experiment={experiment}",
                    f"data.subject_dir={subject}",
                    f"hydra.run.dir={run_dir}",
                    "ckpt_path=last",
                    *overrides,
                ],
                run_dir / "checkpoints" / "final.ckpt",
            ),  # fmt: skip
            Step(
                f"evaluate {experiment} on the held-out frames",
                [py, "-m", "avatarlab.evaluate", f"run={run_dir}"],
                run_dir / "eval" / "side_by_side.mp4",
            ),
        ]
    return steps


def figure_text(metrics: dict[str, Any], key: str) -> str:
    value, ci = metrics.get(key), metrics.get(f"{key}_ci95")
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.3g}" + (f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else "")


def table(results: dict[str, dict[str, Any]]) -> str:
    """A markdown table: one row per figure, one column per experiment."""
    names = list(results)
    lines = ["| figure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key, label in FIGURES:
        lines.append(f"| {label} | " + " | ".join(figure_text(results[n], key) for n in names) + " |")
    return "\n".join(lines)


def stacked_strips(paths: dict[str, Path]) -> np.ndarray:
    """The runs' frame strips one under another, each under its experiment's name."""
    from avatarlab.data.strip import labelled

    images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths.values()]
    width = max(i.shape[1] for i in images)
    padded = [np.pad(i, ((0, 0), (0, width - i.shape[1]), (0, 0)), constant_values=255) for i in images]
    return np.concatenate([labelled(i, name) for name, i in zip(paths, padded)], 0)


def main() -> None:
    try:
        options = key_value_options(sys.argv[1:], DEFAULTS)
        video = Path(options["video"])
        if not video.is_file():
            raise UserInputError(f"no video at {video}", "pass video=PATH to a clip of one person speaking to camera")
        size = checked("size", options["size"], int, minimum=32)
        experiments = [e.strip() for e in str(options["experiments"]).split(",") if e.strip()]
        for experiment in experiments:
            if not (ROOT / "configs" / "experiment" / f"{experiment}.yaml").is_file():
                raise UserInputError(f"no experiment config {experiment!r}", "see configs/experiment/ for the names")
        overrides = str(options["overrides"]).split()
        out, work = Path(options["out"]), Path(options["work"]).resolve()
    except UserInputError as error:
        exit_with(error)
    steps = plan(sys.executable, video.resolve(), size, experiments, overrides, work)
    for i, step in enumerate(steps, 1):
        seconds = run(step, i, len(steps), ROOT, "python -m avatarlab.bench.realism")
        if seconds is not None:
            print(f"    done in {seconds / 60:.1f} min", flush=True)
    subject = subject_name(video, size)
    results = {e: json.loads((run_folder(work, subject, e) / "eval" / "metrics.json").read_text()) for e in experiments}
    print(f"\n{video.name} at {size} px, held-out frames ({results[experiments[0]]['frames']}), 95% intervals:\n")
    print(table(results))
    strips = {e: run_folder(work, subject, e) / "eval" / "frame_strip.png" for e in experiments}
    with atomic_path(out / "frame_strips.png") as target:
        image = cv2.cvtColor(stacked_strips(strips), cv2.COLOR_RGB2BGR)
        target.write_bytes(cv2.imencode(".png", image)[1].tobytes())
    save_json(out / "realism.json", {"video": str(video), "size": size, "runs": results})
    print(f"\nframe strips: {out / 'frame_strips.png'}\nfigures: {out / 'realism.json'}")


if __name__ == "__main__":
    main()
