"""Does filtering each rendered pixel over its footprint remove the sub-pixel speckle? A probe on a trained run.

    python experiments/realism/pixel_filter.py run=logs/realism/RUN [sigmas=0,0.4,0.5,0.6,0.7]

Renders the run's held-out frames by the fast path (tracked keypoints and audio), then blurs each whole frame with
a Gaussian of each sigma (pixels; 0: none), and prints the PSNR against the real frames and the skin artifact ratio
(real skin: 1). The real frames filtered the same way are measured too: how far the filter alone moves real skin.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from omegaconf import OmegaConf

from avatarlab.avatar.datamodule import SubjectArrays
from avatarlab.avatar.lit import load_checkpoint, model_from_checkpoint
from avatarlab.cli import key_value_options
from avatarlab.data.subject import Subject
from avatarlab.export.run_checkpoint import find_checkpoint
from avatarlab.metrics.artifacts import artifact_ratio
from avatarlab.runtime.avatar import Avatar


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2, axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(255.0**2 / np.maximum(mse, 1e-12))))


def blurred(frames: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return frames
    return np.stack([cv2.GaussianBlur(f, (5, 5), sigma, borderType=cv2.BORDER_REPLICATE) for f in frames])


def main() -> None:
    options = key_value_options(sys.argv[1:], {"run": "", "sigmas": "0,0.4,0.5,0.6,0.7"})
    run = Path(options["run"])
    avatar = Avatar(model_from_checkpoint(load_checkpoint(find_checkpoint(run, "avatar_real")), "cpu"))
    data = SubjectArrays(Subject.open(OmegaConf.load(run / "config.yaml").data.subject_dir))
    frames = data.val_frames
    model = avatar.model
    model.pixel_sigma = 0.0  # point-sampled pixels: the filters below are the only ones
    poses = torch.from_numpy(data.pose[frames])
    conds = model.normalise_condition(torch.from_numpy(data.frame_conds[frames]))
    drives = {
        "tracked": avatar.codes_from_keypoints(data.keypoints[frames]),
        "audio": avatar.codes_from_mel(data.mel, frames)[0],
    }
    real = data.frames[frames]
    landmarks = np.asarray(data.subject.landmarks[frames])
    renders = {
        k: np.stack([avatar.render(poses[i], conds[i], c[i]) for i in range(len(frames))]) for k, c in drives.items()
    }
    print("| sigma (px) | PSNR tracked | PSNR audio | skin artifact ratio tracked | audio | real frames filtered |")
    print("|---|---|---|---|---|---|")
    for sigma in (float(s) for s in str(options["sigmas"]).split(",")):
        t, a, r = (blurred(x, sigma) for x in (renders["tracked"], renders["audio"], real))
        ratios = [artifact_ratio(x, real, landmarks) for x in (t, a, r)]
        print(
            f"| {sigma:.2f} | {psnr(t, real):.2f} | {psnr(a, real):.2f} | "
            + " | ".join(f"{v:.2f}" for v in ratios)
            + " |"
        )


if __name__ == "__main__":
    main()
