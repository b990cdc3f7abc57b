"""Benchmark subject preparation: time for the 8 s real clip at 256 px, and the synthetic subject's
head-pose error against its ground truth.

    python scripts/bench_prepare.py [--seconds 60] [--real ../shared/data/hdtf_katie_8s.mp4]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from avatarlab.config_args import from_config
from avatarlab.data.head_pose import relative_pose_errors
from avatarlab.data.prepare import prepare_subject
from avatarlab.data.synthetic import generate

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, default=REPO.parent / "shared" / "data" / "hdtf_katie_8s.mp4")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the synthetic subject")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.real.is_file():
            warmup = from_config("prepare.yaml", "params", size=64)
            prepare_subject(args.real, work / "warmup", "warmup", warmup, force=False)  # numba and model caches
            start = time.perf_counter()
            prepare_subject(
                args.real, work / "real", "real", from_config("prepare.yaml", "params", size=256), force=False
            )
            print(f"prepare {args.real.name} at 256 px: {time.perf_counter() - start:.1f} s (bar: < 60 s)")
        else:
            print(f"real clip not found at {args.real}; skipped its timing")
        source = generate(work / "synthetic", from_config("synthetic.yaml", "params", seed=0, seconds=args.seconds))
        subject = prepare_subject(
            source / "video.mp4",
            work / "synthetic_128",
            "synthetic",
            from_config("prepare.yaml", "params", size=128),
            force=False,
        )
        truth = np.load(source / "ground_truth.npz")["rotation"].astype(np.float64)
        estimated = np.load(subject / "pose.npy")[:, :3, :3].astype(np.float64)
        errors = relative_pose_errors(estimated, truth)
        print(
            f"synthetic head-pose error over {len(errors)} frames: median {np.median(errors):.2f} deg,"
            f" p90 {np.percentile(errors, 90):.2f} deg (bar: median < 2)"
        )


if __name__ == "__main__":
    main()
