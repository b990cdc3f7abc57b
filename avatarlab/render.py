"""`python -m avatarlab.render bundle=DIR audio=FILE out=FILE.mp4`: the avatar speaking any audio.

Or `keypoints=SUBJECT_DIR`: driven by another prepared subject's tracked keypoints (their expression
deltas from that subject's mean, moved onto this avatar's mean), with that subject's audio. Head pose
and torso replay the avatar's own training track. The driving audio is muxed into the mp4.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from pathlib import Path

import hydra
import numpy as np
import soundfile as sf
import torch
from omegaconf import DictConfig

from avatarlab.atomic import atomic_path
from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.data.media import decode_audio, write_video
from avatarlab.data.subject import Subject
from avatarlab.errors import UserInputError
from avatarlab.runtime.avatar import Avatar
from avatarlab.spec.stream import AUDIO_RATE

log = logging.getLogger(__name__)


def render(
    bundle: str | Path,
    out: str | Path,
    *,
    audio: str | None,
    keypoints: str | None,
    max_seconds: float | None,
) -> dict[str, float]:
    """Render to `out` (mp4 with audio), driven by exactly one of `audio` and `keypoints`, cut to `max_seconds`
    (None: all of it); returns frames, seconds and frames per second."""
    if (audio is None) == (keypoints is None):
        raise UserInputError("pass exactly one driving signal", "audio=FILE (speech) or keypoints=PREPARED_SUBJECT_DIR")
    out_path = Path(out)
    if out_path.suffix.lower() != ".mp4":
        raise UserInputError(f"out={out} is not an .mp4 path", "pass out=NAME.mp4")
    avatar = Avatar.from_bundle(bundle)
    fps = avatar.spec.fps
    if audio is not None:
        source = Path(audio)
        if not source.is_file():
            raise UserInputError(f"audio file {source} does not exist", "pass audio=PATH to a speech recording")
        samples = decode_audio(source, AUDIO_RATE)
        if max_seconds:
            samples = samples[: int(max_seconds * AUDIO_RATE)]
        if len(samples) < AUDIO_RATE // 10:
            raise UserInputError(f"{source} holds less than 0.1 s of audio", "pass a longer recording")
        num_frames = int(math.ceil(len(samples) / AUDIO_RATE * fps))
        codes, _ = avatar.codes_from_mel(avatar.mel_from_audio(samples, num_frames))
    else:
        driver = Subject.open(keypoints)
        if driver.keypoint_indices != avatar.spec.keypoint_indices:
            raise UserInputError(
                f"{keypoints} uses other keypoints than this avatar",
                "prepare the driving video with the same avatarlab version",
            )
        kp = driver.keypoints.astype(np.float32)
        samples, rate = driver.audio()
        if rate != AUDIO_RATE:
            raise UserInputError(
                f"{keypoints}/audio.wav is {rate} Hz, expected {AUDIO_RATE}", "prepare the driving video again"
            )
        if max_seconds:
            kp = kp[: int(max_seconds * driver.fps)]
        codes = avatar.codes_from_keypoints(kp, retarget_from_mean=kp.mean(0))
        samples = samples[: int(round(len(kp) / driver.fps * AUDIO_RATE))]
    start = time.perf_counter()
    frames = list(avatar.render_sequence(codes))
    elapsed = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "audio.wav"
        sf.write(wav, samples, AUDIO_RATE)
        with atomic_path(out_path) as target:
            write_video(target, frames, fps, audio=wav)
    stats = {"frames": float(len(frames)), "seconds": len(frames) / fps, "render_fps": len(frames) / elapsed}
    log.info(
        "rendered %d frames (%.1f s of video) at %.1f frames/s -> %s",
        len(frames),
        stats["seconds"],
        stats["render_fps"],
        out_path,
    )
    return stats


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="render")
def main(cfg: DictConfig) -> None:
    def action() -> None:
        torch.set_num_threads(checked("threads", cfg.threads, int, minimum=1))
        stats = render(
            cfg.bundle,
            cfg.out,
            audio=cfg.audio,
            keypoints=cfg.keypoints,
            max_seconds=checked("max_seconds", cfg.max_seconds, float, above=0.0),
        )
        print(
            f"video written: {cfg.out} ({int(stats['frames'])} frames, rendered at {stats['render_fps']:.1f} frames/s)"
        )

    run_cli(action)


if __name__ == "__main__":
    main()
