"""`python -m avatarlab.evaluate run=RUN_DIR`: the avatar on its subject's held-out frames.

Renders every held-out frame with the tracked keypoints (the field's reconstruction), from the frame's audio
through audio2kp (the whole hybrid) and with a still face, and reports:

- PSNR and SSIM of both against the real frames (LPIPS only when its weights are already on disk);
- LMD: mean distance (pixels) between mouth landmarks found by mediapipe on rendered and real frames;
- lip sync, headline `lip_sync_robust_audio`: how the rendered mouth's movement follows the real
  video's under the same audio (avatarlab.metrics.lipsync; the real video reads 1, frames that follow
  other audio about 0, blur and compression move it by a few hundredths);
  `lip_sync_*`: correlation of the audio loudness with the inner-lip gap tracked on the frames (max over
  +-2 frames of lag), for the real video (the ceiling), the renders, and the audio one's ratio;
  `lip_sync_dark_*` the same with the darkness of the real frame's mouth box as the opening;
  `*_still`: every figure again for a still face (the mean training expression on every frame, posed as the
  real head): the floor the mouth's readings are judged against, since the head's own motion moves the mouth box;
- `artifact_ratio`: high-frequency energy of the skin, rendered over real (1 for real-looking skin,
  above for speckle, below for blur; avatarlab.metrics.artifacts);
- the fast render path (the runtime's: few samples, early termination) against the training-like reference
  (`train_samples` per ray, no early termination): `psnr_reference`, `artifact_ratio_reference` (the
  reference against the real frames) and `psnr_fast_vs_reference` (the fast path's frames against the
  reference's: the fast path draws what the model holds when this is high);
- render speed (frames per second, on the torch threads the command line sets with `threads`), of both paths.

Every figure over frames has a 95% interval beside it (`<name>_ci95`: block bootstrap over the held-out
frames, avatarlab.metrics.bootstrap). Writes RUN_DIR/eval/metrics.json, RUN_DIR/eval/frame_strip.png (real,
each render and the reference, with the face zoomed) and RUN_DIR/eval/side_by_side.mp4 (real | rendered from
audio | keypoints).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import hydra
import numpy as np
import soundfile as sf
import torch
from omegaconf import DictConfig, OmegaConf

from avatarlab.atomic import atomic_path, save_json
from avatarlab.avatar.datamodule import SubjectArrays
from avatarlab.avatar.lit import load_checkpoint, model_from_checkpoint
from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.data.media import write_video
from avatarlab.data.preview import project
from avatarlab.data.strip import frame_strip
from avatarlab.data.subject import Subject
from avatarlab.errors import UserInputError
from avatarlab.export.run_checkpoint import find_checkpoint, model_kind
from avatarlab.metrics.heldout import held_out_figures, reference_figures
from avatarlab.metrics.lipsync import audio_envelope
from avatarlab.runtime.avatar import Avatar

log = logging.getLogger(__name__)
STRIP_COLUMNS = 4  # held-out frames in eval/frame_strip.png


def lpips_if_available(pred: np.ndarray, real: np.ndarray) -> np.ndarray | None:
    """Per-frame LPIPS (AlexNet) [T] when the `lpips` package and its weights are on disk; None otherwise (never
    downloads)."""
    try:
        import lpips  # type: ignore
        import torchvision  # noqa: F401  # type: ignore
    except Exception:
        return None
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    if not any(hub.glob("alexnet-owt-*.pth")):
        return None
    metric = lpips.LPIPS(net="alex", verbose=False)
    to_tensor = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # noqa: E731
    with torch.no_grad():
        return metric(to_tensor(pred), to_tensor(real)).reshape(-1).numpy().astype(np.float64)


def draw_keypoints(size: int, points: list[tuple[np.ndarray, tuple[int, int, int]]]) -> np.ndarray:
    """A black frame with projected keypoints (pixels [K, 2]) dotted in the given colours."""
    import cv2

    image = np.zeros((size, size, 3), np.uint8)
    for pts, colour in points:
        for x, y in np.round(pts).astype(int):
            cv2.circle(image, (int(x), int(y)), max(1, size // 128), colour, -1)
    return image


def evaluate(
    run_dir: str | Path,
    *,
    subject_dir: str | None,
    max_frames: int | None,
    video: bool,
    occupancy_threshold: float | None,
    pixel_sigma: float | None,
) -> dict[str, Any]:
    """Render the held-out frames of an avatar run from tracked keypoints and from audio; return and save
    the metrics (`subject_dir` None: the run's own subject; `max_frames` None: every held-out frame)."""

    run = Path(run_dir)
    kind = model_kind(run)
    if kind != "avatar":
        raise UserInputError(
            f"{run} is a {kind} run, not an avatar run",
            "evaluate avatar runs here; a turn predictor is evaluated by"
            " `python -m avatarlab.turn.evaluate bundle=DIR`",
        )
    config = OmegaConf.load(run / "config.yaml")
    subject_path = subject_dir or OmegaConf.select(config, "data.subject_dir")
    if not subject_path:
        raise UserInputError(f"{run}/config.yaml names no subject", "pass subject_dir=PATH")
    avatar = Avatar(model_from_checkpoint(load_checkpoint(find_checkpoint(run, "avatar_quickstart")), "cpu"))
    data = SubjectArrays(Subject.open(subject_path))
    if data.spec.size != avatar.spec.size or data.spec.num_keypoints != avatar.spec.num_keypoints:
        raise UserInputError(
            f"subject {subject_path} ({data.spec.size} px) does not match the avatar ({avatar.spec.size} px)",
            "evaluate on the subject the run trained on",
        )
    model = avatar.model
    if occupancy_threshold is not None:
        model.set_occupancy_threshold(float(occupancy_threshold))
    if pixel_sigma is not None:
        model.pixel_sigma = float(pixel_sigma)
    frames = data.val_frames if max_frames is None else data.val_frames[: int(max_frames)]
    poses = torch.from_numpy(data.pose[frames])
    conds = model.normalise_condition(torch.from_numpy(data.frame_conds[frames]))
    audio_codes, predicted = avatar.codes_from_mel(data.mel, frames)
    real = data.frames[frames]

    renders: dict[str, np.ndarray] = {}
    timing: dict[str, float] = {}
    drives = {"audio": audio_codes}
    if model.condition == "keypoints":
        drives["tracked"] = avatar.codes_from_keypoints(data.keypoints[frames])
        # the floor of the mouth's figures: a still face (the mean training expression) moved by the head alone
        still = data.keypoints[data.train_frames].mean(axis=0, keepdims=True)  # [1, K, 3]
        drives["still"] = avatar.codes_from_keypoints(np.repeat(still, len(frames), axis=0))
    for name, codes in drives.items():
        avatar.render(poses[0], conds[0], codes[0])  # warm-up: the timed frames are all steady-state
        start = time.perf_counter()
        renders[name] = np.stack([avatar.render(poses[i], conds[i], codes[i]) for i in range(len(frames))])
        timing[name] = len(frames) / (time.perf_counter() - start)
    primary = "tracked" if "tracked" in renders else "audio"
    avatar.render_reference(poses[0], conds[0], drives[primary][0])
    start = time.perf_counter()
    reference = np.stack([avatar.render_reference(poses[i], conds[i], drives[primary][i]) for i in range(len(frames))])
    timing["reference"] = len(frames) / (time.perf_counter() - start)

    metrics: dict[str, Any] = {
        "run": str(run),
        "subject": str(subject_path),
        "frames": int(len(frames)),
        "size": int(data.spec.size),
        "condition": model.condition,
        "occupancy_threshold": float(model.occupancy.threshold),
        "pixel_sigma": float(model.pixel_sigma),
        "occupied_fraction": model.occupancy.occupied_fraction,
    }
    samples, rate = Subject.open(subject_path).audio()
    start_sample = int(round(frames[0] / data.spec.fps * rate))
    envelope = audio_envelope(samples[start_sample:], rate, len(frames), data.spec.fps)
    landmarks = np.asarray(data.subject.landmarks[frames])  # the real frames' (mouth boxes, skin masks)
    metrics.update(held_out_figures(real, renders, landmarks, envelope, primary, lpips_if_available))
    metrics.update(reference_figures(real, reference, renders[primary], landmarks))
    metrics["render_fps"] = float(timing[primary])
    metrics["render_fps_audio"] = float(timing["audio"])
    metrics["render_fps_reference"] = float(timing["reference"])
    metrics["render_threads"] = torch.get_num_threads()

    metrics = {
        k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in metrics.items()
    }  # JSON has no NaN (intervals come as [low, high] or None)
    out = run / "eval"
    out.mkdir(parents=True, exist_ok=True)
    rows = {"real": real, **{f"{name} (fast path)": frames for name, frames in renders.items() if name != "still"}}
    rows[f"{primary} (training-like reference)"] = reference
    strip = frame_strip(rows, landmarks, STRIP_COLUMNS)
    with atomic_path(out / "frame_strip.png") as target:
        target.write_bytes(cv2.imencode(".png", cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))[1].tobytes())
    metrics["frame_strip"] = str(out / "frame_strip.png")
    save_json(out / "metrics.json", metrics)
    if video:
        kp_panels = []
        canonical_pred = model.denormalise_keypoints(predicted).numpy()
        for i, t in enumerate(frames):
            pose = data.pose[t]
            kp_panels.append(
                draw_keypoints(
                    data.spec.size,
                    [
                        (project(data.keypoints[t], pose, data.spec.camera), (230, 60, 60)),
                        (project(canonical_pred[i], pose, data.spec.camera), (60, 230, 60)),
                    ],
                )
            )
        panels = [np.concatenate([r, a, k], axis=1) for r, a, k in zip(real, renders["audio"], kp_panels)]
        write_clip(out / "side_by_side.mp4", panels, data.spec.fps, samples[start_sample:], rate)
        metrics["video"] = str(out / "side_by_side.mp4")
        save_json(out / "metrics.json", metrics)
    return metrics


def write_clip(path: Path, frames: list[np.ndarray], fps: float, samples: np.ndarray, rate: int) -> None:
    """mp4 with the matching stretch of audio muxed in."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "audio.wav"
        sf.write(wav, samples[: int(round(len(frames) / fps * rate))], rate)
        with atomic_path(path) as target:
            write_video(target, frames, fps, audio=wav)


def summary(metrics: dict[str, Any]) -> str:
    """The headline metrics, one per line with their 95% interval, for the terminal."""
    keys = [
        "psnr",
        "ssim",
        "psnr_audio",
        "ssim_audio",
        "lmd",
        "lmd_audio",
        "lip_sync_robust_audio",
        "lip_sync_robust_tracked",
        "lip_sync_robust_still",
        "artifact_ratio",
        "artifact_ratio_audio",
        "psnr_reference",
        "artifact_ratio_reference",
        "psnr_fast_vs_reference",
        "lip_sync_real",
        "lip_sync_audio",
        "lip_sync_ratio",
        "lip_sync_dark_real",
        "lip_sync_dark_audio",
        "lip_sync_dark_ratio",
        "render_fps",
        "render_fps_reference",
    ]

    def line(key: str) -> str:
        value, ci = metrics.get(key), metrics.get(f"{key}_ci95")
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        return f"  {key:24s} {text}" + (f"  [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else "")

    return "\n".join(line(k) for k in keys if k in metrics)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    def action() -> None:
        torch.set_num_threads(checked("threads", cfg.threads, int, minimum=1))
        metrics = evaluate(
            cfg.run,
            subject_dir=cfg.subject_dir,
            max_frames=checked("max_frames", cfg.max_frames, int, minimum=1),
            video=bool(cfg.video),
            occupancy_threshold=checked("occupancy_threshold", cfg.occupancy_threshold, float, above=0.0),
            pixel_sigma=checked("pixel_sigma", cfg.pixel_sigma, float, minimum=0.0),
        )
        print(
            f"metrics ({metrics['frames']} held-out frames) -> {Path(cfg.run) / 'eval' / 'metrics.json'}\n"
            f"{summary(metrics)}"
        )
        if "video" in metrics:
            print(f"side-by-side video: {metrics['video']}")

    run_cli(action)


if __name__ == "__main__":
    main()
