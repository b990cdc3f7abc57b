"""Turn a person's video into a training set: `python -m avatarlab.data.prepare input=PATH name=NAME`.

Decodes at 25 fps, crops a square that follows the face, tracks 478 landmarks, estimates head pose
against a canonical shape of the video's own, extracts expression keypoints, masks and a background
plate, log-mel features aligned to frames, and writes a manifest. Resumable and idempotent.
See avatarlab/data/subject.py for the output layout.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import soundfile as sf

from avatarlab import __version__
from avatarlab.atomic import atomic_path, save_json, save_npy
from avatarlab.cli import checked, checked_name, config_dir, run_cli
from avatarlab.data import face_landmarks as fl
from avatarlab.data.audio_features import log_mel
from avatarlab.data.crop import crop_frame, crop_track, face_boxes
from avatarlab.data.expression import blink, expression_keypoints, mouth_opening
from avatarlab.data.face_tracking import fill_gaps, track_faces
from avatarlab.data.head_pose import canonical_shape, fit_poses, intrinsics, pose_matrices, smooth_poses, to_canonical
from avatarlab.data.masks import background_plate, build_masks
from avatarlab.data.media import (
    MediaInfo,
    decode_audio,
    iter_frames,
    probe,
    video_size_after_scale,
    write_video,
)
from avatarlab.data.preview import draw_preview
from avatarlab.data.stages import StageRunner, job_key
from avatarlab.data.subject import SUBJECT_FORMAT_VERSION
from avatarlab.errors import UserInputError
from avatarlab.hashing import sha256_file
from avatarlab.spec.stream import AUDIO_RATE

log = logging.getLogger(__name__)

SHORT_CLIP_SECONDS = 60.0  # shorter clips hold out a fixed stretch at the end instead of val_fraction
SHORT_HELD_OUT_SECONDS = 2.0

OUTPUTS = [
    "frames.npy",
    "audio.wav",
    "mel.npy",
    "landmarks.npy",
    "detected.npy",
    "pose.npy",
    "canonical.npy",
    "keypoints.npy",
    "mouth_open.npy",
    "blink.npy",
    "masks.npy",
    "background.png",
    "crop.npy",
    "preview.mp4",
]


@dataclass(frozen=True)
class PrepareParams:
    """Everything that determines a prepared subject besides the input video (values: configs/prepare.yaml)."""

    size: int
    fps: float
    n_mels: int
    crop_scale: float
    crop_smooth_seconds: float
    track_max_side: int
    max_gap_seconds: float
    pose_smooth_frames: float
    min_seconds: float
    min_face_fraction: float
    max_multi_face_fraction: float
    allow_no_audio: bool
    val_fraction: float

    def validate(self) -> None:
        """Raise a UserInputError for an unusable size, frame rate or minimum length."""
        size = checked("size", self.size, int, minimum=32)
        if size % 2:
            raise UserInputError(
                f"size={self.size} is not usable",
                "pass an even size of at least 32 (128 or 256 on a CPU, 512 on a GPU)",
            )
        checked("params.fps", self.fps, float, above=0.0)
        checked("params.min_seconds", self.min_seconds, float, minimum=0.0)


def check_writable(out_dir: Path) -> None:
    """Fail early, with a fix, when the output folder cannot be created or written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe_file = out_dir / f".write-test-{os.getpid()}"
        probe_file.write_bytes(b"")
        probe_file.unlink()
    except OSError as e:
        raise UserInputError(
            f"cannot write to the output folder {out_dir} ({e.strerror or e})",
            "pass out_dir=PATH to a folder you can write, or fix its permissions",
        ) from e


def validate_input(info: MediaInfo, params: PrepareParams) -> None:
    if not info.has_video:
        raise UserInputError(f"{info.path} has no video stream", "pass a video of the person speaking to camera")
    if info.duration < params.min_seconds:
        raise UserInputError(
            f"{info.path} lasts {info.duration:.2f} s, shorter than the minimum of {params.min_seconds} s",
            "use a longer clip (minutes are best), or lower params.min_seconds",
        )
    if not info.has_audio and not params.allow_no_audio:
        raise UserInputError(
            f"{info.path} has no audio track",
            "use a video with its speech, or pass allow_no_audio=true to prepare it silent"
            " (audio-driven training then has nothing to learn from)",
        )


def held_out_start(num_frames: int, fps: float, val_fraction: float) -> int:
    """First held-out frame of the time split: a clip of a minute or more holds out its last `val_fraction`,
    a shorter one its last SHORT_HELD_OUT_SECONDS (enough frames for a correlation), at most half of it."""
    if num_frames < SHORT_CLIP_SECONDS * fps:
        return num_frames - min(int(round(SHORT_HELD_OUT_SECONDS * fps)), num_frames // 2)
    return int(round(num_frames * (1 - val_fraction)))


def versions() -> dict[str, str]:
    import librosa
    import mediapipe

    return {
        "avatarlab": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "mediapipe": mediapipe.__version__,
        "librosa": librosa.__version__,
    }


def prepare_subject(
    input_path: str | Path, out_dir: str | Path, name: str, params: PrepareParams, *, force: bool
) -> Path:
    """Prepare `input_path` into `out_dir`; returns the subject folder. Reruns resume or do nothing."""
    params.validate()
    info = probe(input_path)
    validate_input(info, params)
    out = Path(out_dir)
    check_writable(out)
    input_sha = sha256_file(info.path)
    key = job_key({"format": SUBJECT_FORMAT_VERSION, "input": input_sha, "params": asdict(params), "name": name})
    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        import json

        existing = json.loads(manifest_path.read_text())
        if existing.get("complete") and existing.get("key") == key and all((out / o).exists() for o in OUTPUTS):
            log.info("%s is up to date; nothing to do", out)
            start = held_out_start(existing["num_frames"], params.fps, params.val_fraction)
            if existing["split"]["val"][0] != start:
                log.warning(
                    "%s holds out frames from %d, the current split from %d: delete its manifest.json and rerun"
                    " to re-split (the prepared stages are kept; runs trained before saw some of the new"
                    " held-out frames)",
                    out,
                    existing["split"]["val"][0],
                    start,
                )
            return out
        if existing.get("complete") and existing.get("key") != key and not force:
            raise UserInputError(
                f"{out} already holds a subject prepared from other input or parameters",
                "choose another name=, or pass force=true to replace it",
            )
        manifest_path.unlink()  # no longer complete while we work
    stages = StageRunner(out, key)
    started = time.perf_counter()
    frame_step = 1.0 / params.fps

    # 1. Where the face is in the source video -> a smooth square crop.
    def track_source() -> dict[str, Any]:
        width, height = video_size_after_scale(info, params.track_max_side)
        tracks = track_faces(
            iter_frames(info, params.fps, params.track_max_side),
            total=int(info.duration * params.fps),
            desc="find face",
        )
        count = len(tracks.detected)
        if count == 0:
            raise UserInputError(f"no frames could be decoded from {info.path}", "check the file plays")
        found = float(tracks.detected.mean())
        if found < params.min_face_fraction:
            raise UserInputError(
                f"a face was found in only {found:.0%} of the frames of {info.path}",
                "use a video where one face is in view, frontal and lit, most of the time",
            )
        several = float((tracks.face_counts >= 2).mean())
        if several > params.max_multi_face_fraction:
            raise UserInputError(
                f"{several:.0%} of the frames of {info.path} show several faces",
                "crop or trim the video so that only the person to model is in view",
            )
        filled, _ = fill_gaps(tracks.landmarks, tracks.detected, max_gap=count)
        boxes = face_boxes(filled) * np.array([info.width / width, info.height / height, info.width / width])
        save_npy(
            out / "crop.npy",
            crop_track(boxes, params.crop_scale, params.crop_smooth_seconds * params.fps, info.width, info.height),
        )
        return {"num_frames": count, "face_fraction": found, "multi_face_fraction": several}

    source = stages.run("find_face", ["crop.npy"], track_source)
    crops = np.load(out / "crop.npy")
    num_frames = len(crops)

    # 2. Cropped, resized frames.
    def write_frames() -> None:
        with atomic_path(out / "frames.npy") as tmp:
            frames = np.lib.format.open_memmap(
                tmp, mode="w+", dtype=np.uint8, shape=(num_frames, params.size, params.size, 3)
            )
            written = 0
            for t, frame in enumerate(iter_frames(info, params.fps)):
                if t >= num_frames:
                    break
                frames[t] = crop_frame(frame, *crops[t], params.size)
                written += 1
            frames[written:] = frames[written - 1] if written else 0
            frames.flush()
            del frames

    stages.run("frames", ["frames.npy"], write_frames)

    # 3. Audio at 16 kHz mono and log-mel rows aligned to frames.
    def write_audio() -> dict[str, Any]:
        samples = (
            decode_audio(info.path)
            if info.has_audio
            else np.zeros(int(num_frames * frame_step * AUDIO_RATE), np.float32)
        )
        samples = np.pad(samples, (0, max(0, int(round(num_frames * frame_step * AUDIO_RATE)) - len(samples))))[
            : int(round(num_frames * frame_step * AUDIO_RATE))
        ]
        with atomic_path(out / "audio.wav") as tmp:
            sf.write(tmp, samples, AUDIO_RATE, subtype="PCM_16", format="WAV")
        save_npy(out / "mel.npy", log_mel(samples, AUDIO_RATE, params.n_mels, num_frames=num_frames, fps=params.fps))
        return {"has_audio": info.has_audio}

    audio = stages.run("audio", ["audio.wav", "mel.npy"], write_audio)
    frames = np.load(out / "frames.npy", mmap_mode="r")

    # 4. Landmarks on the crops, short gaps interpolated, long ones reported.
    def write_landmarks() -> dict[str, Any]:
        tracks = track_faces(iter(frames), total=num_frames, desc="landmarks")
        if not tracks.detected.any():
            raise UserInputError(
                f"no face was found in the cropped frames of {info.path}",
                "use a video with one face in view most of the time",
            )
        filled, long_gaps = fill_gaps(
            tracks.landmarks, tracks.detected, max_gap=int(params.max_gap_seconds * params.fps)
        )
        for a, b in long_gaps:
            log.warning(
                "no face from %.2f s to %.2f s (%d frames); landmarks there are interpolated",
                a * frame_step,
                b * frame_step,
                b - a,
            )
        save_npy(out / "landmarks.npy", filled.astype(np.float32))
        save_npy(out / "detected.npy", tracks.detected)
        return {
            "detected_fraction": float(tracks.detected.mean()),
            "long_gaps": [[a * frame_step, b * frame_step] for a, b in long_gaps],
        }

    tracking = stages.run("landmarks", ["landmarks.npy", "detected.npy"], write_landmarks)
    landmarks = np.load(out / "landmarks.npy")
    detected = np.load(out / "detected.npy")
    camera = intrinsics(params.size)

    # 5. Head pose, expression keypoints, mouth opening, blink.
    def write_pose() -> None:
        canonical = canonical_shape(landmarks, weights=detected.astype(float))
        similarities = smooth_poses(fit_poses(landmarks, canonical), params.pose_smooth_frames)
        canonical_landmarks = to_canonical(landmarks, similarities)
        save_npy(out / "canonical.npy", canonical)
        save_npy(out / "pose.npy", pose_matrices(similarities, camera))
        save_npy(out / "keypoints.npy", expression_keypoints(canonical_landmarks))
        save_npy(out / "mouth_open.npy", mouth_opening(landmarks))
        save_npy(out / "blink.npy", blink(landmarks))

    stages.run("pose", ["canonical.npy", "pose.npy", "keypoints.npy", "mouth_open.npy", "blink.npy"], write_pose)

    # 6. Masks and the background plate.
    def write_masks() -> None:
        masks = build_masks(iter(frames), landmarks, params.size)
        save_npy(out / "masks.npy", masks)
        plate = background_plate(frames, masks)
        with atomic_path(out / "background.png") as tmp:
            cv2.imwrite(str(tmp.with_suffix(".png")), cv2.cvtColor(plate, cv2.COLOR_RGB2BGR))
            tmp.with_suffix(".png").rename(tmp)

    stages.run("masks", ["masks.npy", "background.png"], write_masks)

    # 7. Preview video with landmarks and pose axes.
    def write_preview() -> None:
        poses = np.load(out / "pose.npy")
        previews = (
            draw_preview(frames[t], landmarks[t], poses[t], camera, bool(detected[t])) for t in range(num_frames)
        )
        with atomic_path(out / "preview.mp4") as tmp:
            write_video(tmp, previews, params.fps, audio=out / "audio.wav" if audio.get("has_audio") else None)

    stages.run("preview", ["preview.mp4"], write_preview)

    n_train = held_out_start(num_frames, params.fps, params.val_fraction)
    manifest = {
        "format_version": SUBJECT_FORMAT_VERSION,
        "name": name,
        "complete": True,
        "key": key,
        "input": {
            "path": str(info.path),
            "sha256": input_sha,
            "duration": info.duration,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "has_audio": info.has_audio,
        },
        "params": asdict(params),
        "versions": versions(),
        "num_frames": num_frames,
        "split": {"train": [0, n_train], "val": [n_train, num_frames]},
        "camera": camera,
        "keypoint_indices": fl.EXPRESSION,
        "tracking": {**source, **tracking},
        "outputs": {name_: sha256_file(out / name_) for name_ in OUTPUTS},
    }
    save_json(manifest_path, manifest)
    log.info(
        "prepared %s: %d frames at %d px in %.1f s -> %s",
        name,
        num_frames,
        params.size,
        time.perf_counter() - started,
        out,
    )
    return out


def _main() -> None:
    import hydra
    from hydra.utils import instantiate
    from omegaconf import DictConfig

    @hydra.main(version_base="1.3", config_path=config_dir(), config_name="prepare")
    def main(cfg: DictConfig) -> None:
        def action() -> Path:
            name = checked_name("name", cfg.name)  # before out_dir, which is datasets/NAME
            return prepare_subject(cfg.input, cfg.out_dir, name, instantiate(cfg.params), force=cfg.force)

        run_cli(action)

    main()


if __name__ == "__main__":
    _main()
