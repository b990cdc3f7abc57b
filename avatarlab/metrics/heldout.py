"""The figures `evaluate` reports on rendered held-out frames, each with a block-bootstrap 95% interval.

For every render (e.g. `tracked`: from the tracked keypoints, `audio`: driven from the audio) against
the real frames: PSNR, SSIM, LPIPS (when a per-frame LPIPS gives values), LMD, the lip-sync readings, the
skin artifact ratio and how often FaceMesh finds the face. Every figure `x` gets `x_ci95`: [low, high]
(None where undefined): per-frame means and correlations alike are resampled in blocks of frames.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from avatarlab.metrics.artifacts import artifact_ratios
from avatarlab.metrics.bootstrap import bootstrap_ci, mean_ci, ratio_ci
from avatarlab.metrics.image import psnr, ssim
from avatarlab.metrics.landmarks import landmark_distances, mouth_opening, track_frames
from avatarlab.metrics.lipsync import lagged_correlation, motion_agreement, mouth_boxes, mouth_darkness, mouth_motion

PerFrame = Callable[[np.ndarray, np.ndarray], np.ndarray | None]  # (rendered, real) [T, S, S, 3] -> [T] or None
Statistic = Callable[[np.ndarray], float]  # frame indices (a bootstrap resample) -> figure


def interval(low: float, high: float) -> list[float] | None:
    """[low, high] for JSON, None when undefined."""
    return [float(low), float(high)] if np.isfinite(low) and np.isfinite(high) else None


def add_mean(figures: dict[str, Any], key: str, values: np.ndarray) -> None:
    """figures[key] = mean of per-frame values (NaN ignored), figures[key_ci95] its interval."""
    values = np.asarray(values, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no defined frame: NaN
        figures[key] = float(np.nanmean(values)) if len(values) else float("nan")
    figures[f"{key}_ci95"] = interval(*mean_ci(values))


def add_statistic(figures: dict[str, Any], key: str, stat: Statistic, n: int) -> None:
    """figures[key] = stat(all frames), figures[key_ci95] its interval."""
    figures[key] = float(stat(np.arange(n)))
    figures[f"{key}_ci95"] = interval(*bootstrap_ci(stat, n))


def add_ratio(figures: dict[str, Any], key: str, numerator: Statistic, denominator: Statistic, n: int) -> None:
    """figures[key] = numerator / denominator (NaN unless the denominator is positive), with its interval."""
    top, bottom = numerator(np.arange(n)), denominator(np.arange(n))
    figures[key] = float(top / bottom) if np.isfinite(bottom) and bottom > 0 else float("nan")
    figures[f"{key}_ci95"] = interval(*ratio_ci(numerator, denominator, n))


def image_figures(
    real: np.ndarray, renders: dict[str, np.ndarray], landmarks: np.ndarray, lpips: PerFrame | None
) -> dict[str, Any]:
    """PSNR, SSIM, LPIPS and the skin artifact ratio of each render [T, S, S, 3] against `real`."""
    figures: dict[str, Any] = {}
    truth = real.astype(np.float32) / 255.0
    for name, frames in renders.items():
        pred = frames.astype(np.float32) / 255.0
        add_mean(figures, f"psnr_{name}", np.array([float(psnr(a, b)) for a, b in zip(pred, truth)]))
        add_mean(figures, f"ssim_{name}", np.array([ssim(a, b) for a, b in zip(pred, truth)]))
        scores = lpips(frames, real) if lpips is not None else None
        if scores is not None:
            add_mean(figures, f"lpips_{name}", scores)
        else:
            figures[f"lpips_{name}"] = "skipped: lpips weights not on disk"
        add_mean(figures, f"artifact_ratio_{name}", artifact_ratios(frames, real, landmarks))
    return figures


def mouth_figures(
    real: np.ndarray, renders: dict[str, np.ndarray], landmarks: np.ndarray, envelope: np.ndarray
) -> dict[str, Any]:
    """LMD, detection rates and the lip-sync readings: `lip_sync_robust_*` (the mouth's movement against the
    real video's, in boxes placed by the real frames' `landmarks` [T, 478, 2+]), and the correlations of
    the audio loudness `envelope` [T] with the tracked inner-lip gap (`lip_sync_*`) and with the mouth
    box's darkness (`lip_sync_dark_*`), for the real video (their ceiling) and each render."""
    n = len(real)
    figures: dict[str, Any] = {}
    real_lm, real_found = track_frames(real)
    add_mean(figures, "detected_real", real_found.astype(np.float64))
    openings, darkness = {"real": mouth_opening(real_lm)}, {"real": mouth_darkness(real, real_lm)}
    boxes = mouth_boxes(landmarks)
    movable = n >= 3 and not np.isnan(boxes).any()
    real_motion = mouth_motion(real, boxes) if movable else None
    for name, frames in renders.items():
        lm, found = track_frames(frames)
        add_mean(figures, f"lmd_{name}", landmark_distances(lm, real_lm))
        add_mean(figures, f"detected_{name}", found.astype(np.float64))
        openings[name] = mouth_opening(lm)
        darkness[name] = mouth_darkness(frames, real_lm)  # the real frames' mouth boxes
        if real_motion is not None:
            motion = mouth_motion(frames, boxes)
            agreement: Statistic = lambda idx, m=motion: motion_agreement(m, real_motion, frames=idx)  # noqa: E731
            add_statistic(figures, f"lip_sync_robust_{name}", agreement, n)
        else:
            figures[f"lip_sync_robust_{name}"], figures[f"lip_sync_robust_{name}_ci95"] = float("nan"), None
    for prefix, signals in (("lip_sync", openings), ("lip_sync_dark", darkness)):
        stats: dict[str, Statistic] = {
            name: (lambda idx, s=signal: lagged_correlation(envelope, s, frames=idx))
            for name, signal in signals.items()
        }
        for name, stat in stats.items():
            add_statistic(figures, f"{prefix}_{name}", stat, n)
        if "audio" in stats:
            add_ratio(figures, f"{prefix}_ratio", stats["audio"], stats["real"], n)
    return figures


def held_out_figures(
    real: np.ndarray,
    renders: dict[str, np.ndarray],
    landmarks: np.ndarray,
    envelope: np.ndarray,
    primary: str,
    lpips: PerFrame | None = None,
) -> dict[str, Any]:
    """Every figure of the renders against the real frames [T, S, S, 3] (uint8), with intervals; `landmarks`
    [T, 478, 2+] are the real frames' (mouth boxes, skin masks), `envelope` [T] the audio loudness under
    each frame. `psnr`, `ssim`, `lmd` and `artifact_ratio` repeat the `primary` render's figures."""
    figures = {**image_figures(real, renders, landmarks, lpips), **mouth_figures(real, renders, landmarks, envelope)}
    for key in ("psnr", "ssim", "lmd", "artifact_ratio"):
        figures[key], figures[f"{key}_ci95"] = figures[f"{key}_{primary}"], figures[f"{key}_{primary}_ci95"]
    return figures


def reference_figures(
    real: np.ndarray, reference: np.ndarray, fast: np.ndarray, landmarks: np.ndarray
) -> dict[str, Any]:
    """The training-like reference render against the real frames (`psnr_reference`, `ssim_reference`,
    `artifact_ratio_reference`) and the fast path's render against the reference (`psnr_fast_vs_reference`)."""
    figures = image_figures(real, {"reference": reference}, landmarks, None)
    del figures["lpips_reference"]
    truth = reference.astype(np.float32) / 255.0
    scores = np.array([float(psnr(a.astype(np.float32) / 255.0, b)) for a, b in zip(fast, truth)])
    add_mean(figures, "psnr_fast_vs_reference", scores)
    return figures
