"""Training data for the avatar: ray batches weighted toward face and mouth, audio windows for audio2kp,
rays through face points of known depth (a surface prior), and held-out frames for validation. Everything comes
from a prepared subject (avatarlab.data.subject)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from avatarlab.avatar.audio2kp import mel_windows
from avatarlab.avatar.spec import frame_conditions, spec_from_subject
from avatarlab.data.face_landmarks import FIXED_SURFACE
from avatarlab.data.head_pose import pinhole
from avatarlab.data.subject import MASK_FACE, MASK_MOUTH, MASK_PERSON, Subject
from avatarlab.errors import UserInputError
from avatarlab.spec.avatar import AvatarSpec

log = logging.getLogger(__name__)


class SubjectArrays:
    """The subject's arrays in memory, as float tensors where training needs them."""

    def __init__(self, subject: Subject, box_margins: tuple[float, ...] | None = None) -> None:
        self.subject = subject
        self.spec: AvatarSpec = spec_from_subject(subject, box_margins) if box_margins else spec_from_subject(subject)
        self.frames = np.asarray(subject.frames)  # uint8 [T, S, S, 3]
        self.masks = np.asarray(subject.masks)  # uint8 [T, S, S]
        self.pose = subject.pose.astype(np.float32)  # [T, 4, 4]
        self.crop = subject.array("crop", mmap=False).astype(np.float32)  # [T, 3]
        self.keypoints = subject.keypoints.astype(np.float32)  # [T, K, 3]
        self.blink = subject.array("blink", mmap=False).astype(np.float32)  # [T]
        self.mel = subject.mel.astype(np.float32)  # [T * 4, n_mels]
        self.background = subject.background  # uint8 [S, S, 3]
        self.frame_conds = frame_conditions(self.pose, self.crop)  # [T, 11]
        self.train_frames = subject.train_frames
        self.val_frames = subject.val_frames


def surface_rays(points: np.ndarray, pose: np.ndarray, camera: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Pixels [B, P, 2] where canonical face points [P, 3] appear under poses [B, 4, 4] (canonical -> camera,
    OpenCV axes), and their distance [B, P] from the camera along the ray through that pixel."""
    cam = points[None] @ pose[:, :3, :3].transpose(0, 2, 1) + pose[:, None, :3, 3]  # [B, P, 3]
    uv = np.stack(pinhole(cam, camera), axis=-1)  # [B, P, 2]
    return uv.astype(np.float32), np.linalg.norm(cam, axis=-1).astype(np.float32)


class RayBatches(IterableDataset):
    """Endless batches: `frames` training frames, `rays` pixels spread over them, drawn with weights
    (face x face_weight, mouth x mouth_weight, person x person_weight, 1 elsewhere), plus audio2kp chunks, plus
    (depth_rays > 0) that many rays per frame through face points of the video's canonical shape
    (`surface_uv`, `surface_depth`: where the ray should meet the head)."""

    def __init__(
        self,
        data: SubjectArrays,
        rays: int,
        frames: int,
        face_weight: float,
        mouth_weight: float,
        person_weight: float,
        audio_past: int,
        audio_future: int,
        chunks: int,
        chunk_length: int,
        depth_rays: int,
        pixel_jitter: float,
        seed: int,
    ) -> None:
        super().__init__()
        if not 0.0 <= pixel_jitter <= 1.0:
            raise ValueError(f"pixel_jitter is a share of a pixel, from 0 to 1, not {pixel_jitter}")
        self.data = data
        self.depth_rays = depth_rays
        self.pixel_jitter = pixel_jitter
        self.surface = np.zeros((0, 3), np.float32)
        if depth_rays > 0:
            self.surface = data.subject.array("canonical", mmap=False)[FIXED_SURFACE].astype(np.float32)  # [P, 3]
        self.rays, self.frames = rays, frames
        self.weights = (face_weight, mouth_weight, person_weight)
        self.audio_past, self.audio_future = audio_past, audio_future
        self.chunks, self.chunk_length = chunks, chunk_length
        self.seed = seed

    def pixel_weights(self, masks: np.ndarray) -> np.ndarray:
        face_w, mouth_w, person_w = self.weights
        w = np.ones(masks.shape, np.float64)
        w = np.where(masks & MASK_PERSON, person_w, w)
        w = np.where(masks & MASK_FACE, face_w, w)
        w = np.where(masks & MASK_MOUTH, mouth_w, w)
        return w.reshape(len(masks), -1)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        worker = torch.utils.data.get_worker_info()
        rng = np.random.default_rng(self.seed + (worker.id if worker else 0))
        d = self.data
        size = d.spec.size
        train = d.train_frames
        per_frame = self.rays // self.frames
        mpf = d.spec.mel_per_frame
        while True:
            chosen = rng.choice(train, size=self.frames, replace=len(train) < self.frames)
            weights = self.pixel_weights(d.masks[chosen])  # [B, S*S]
            cdf = np.cumsum(weights, axis=1)
            picks = (rng.random((self.frames, per_frame)) * cdf[:, -1:]).astype(np.float64)
            flat = np.stack([np.searchsorted(cdf[b], picks[b], side="right") for b in range(self.frames)]).clip(
                0, size * size - 1
            )  # [B, R]
            ys, xs = flat // size, flat % size
            rgb = d.frames[chosen[:, None], ys, xs].astype(np.float32) / 255.0  # [B, R, 3]
            masks = d.masks[chosen[:, None], ys, xs]
            uv = np.stack([xs, ys], -1).astype(np.float32) + 0.5  # [B, R, 2] pixel centres
            if self.pixel_jitter > 0:  # anywhere in the pixel: the field learns the pixel's area, not a point of it
                uv += ((rng.random(uv.shape) - 0.5) * self.pixel_jitter).astype(np.float32)
            # audio2kp: chunks of consecutive training frames
            starts = rng.choice(train[: max(1, len(train) - self.chunk_length)], size=self.chunks)
            chunk_frames = starts[:, None] + np.arange(self.chunk_length)[None]  # [A, C]
            chunk_frames = np.clip(chunk_frames, 0, train[-1])
            prior: dict[str, np.ndarray] = {}
            if self.depth_rays > 0:
                points = self.surface[rng.choice(len(self.surface), size=self.depth_rays, replace=False)]
                prior = dict(zip(("surface_uv", "surface_depth"), surface_rays(points, d.pose[chosen], d.spec.camera)))
            yield {  # device: cpu (a DataLoader's batch; Lightning moves it to the model's device)
                "frame": torch.from_numpy(chosen.astype(np.int64)),
                "pose": torch.from_numpy(d.pose[chosen]),
                "cond": torch.from_numpy(d.frame_conds[chosen]),
                "keypoints": torch.from_numpy(d.keypoints[chosen]),
                "mel": torch.from_numpy(mel_windows(d.mel, chosen, self.audio_past, self.audio_future, mpf)),
                "uv": torch.from_numpy(uv),
                "rgb": torch.from_numpy(rgb),
                "mask": torch.from_numpy(masks.astype(np.int64)),
                "a2kp_mel": torch.from_numpy(
                    mel_windows(d.mel, chunk_frames.reshape(-1), self.audio_past, self.audio_future, mpf)
                ).reshape(self.chunks, self.chunk_length, -1, d.mel.shape[1]),
                "a2kp_keypoints": torch.from_numpy(d.keypoints[chunk_frames]),
                "a2kp_blink": torch.from_numpy(d.blink[chunk_frames]),
                **{key: torch.from_numpy(value) for key, value in prior.items()},
            }


class HeldOutFrames(Dataset):
    """Whole held-out frames (a spread of `count` of them) for validation renders."""

    def __init__(self, data: SubjectArrays, count: int, audio_past: int, audio_future: int) -> None:
        frames = data.val_frames
        self.frames = frames[np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)]
        self.data = data
        self.audio_past, self.audio_future = audio_past, audio_future

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        d, t = self.data, int(self.frames[i])
        return {  # device: cpu (a DataLoader's batch; Lightning moves it to the model's device)
            "frame": torch.tensor(t),
            "pose": torch.from_numpy(d.pose[t]),
            "cond": torch.from_numpy(d.frame_conds[t]),
            "keypoints": torch.from_numpy(d.keypoints[t]),
            "mel": torch.from_numpy(
                mel_windows(d.mel, np.array([t]), self.audio_past, self.audio_future, d.spec.mel_per_frame)[0]
            ),
            "image": torch.from_numpy(d.frames[t].astype(np.float32) / 255.0),
        }


class AvatarDataModule(L.LightningDataModule):
    """A prepared subject as ray batches (train) and held-out frames (val); values: configs/data/avatar_subject.yaml."""

    def __init__(
        self,
        subject_dir: str,
        rays: int,
        frames: int,
        face_weight: float,
        mouth_weight: float,
        person_weight: float,
        audio_past: int,
        audio_future: int,
        chunks: int,
        chunk_length: int,
        depth_rays: int,
        pixel_jitter: float,
        val_frames: int,
        box_margins: list[float] | None,
        seed: int,
        num_workers: int,
    ) -> None:
        super().__init__()
        self.subject_dir = subject_dir
        self.kwargs = dict(
            rays=rays,
            frames=frames,
            face_weight=face_weight,
            mouth_weight=mouth_weight,
            person_weight=person_weight,
            audio_past=audio_past,
            audio_future=audio_future,
            chunks=chunks,
            chunk_length=chunk_length,
            depth_rays=depth_rays,
            pixel_jitter=pixel_jitter,
            seed=seed,
        )
        self.val_count = val_frames
        self.box_margins = tuple(box_margins) if box_margins else None
        self.num_workers = num_workers
        self.data: SubjectArrays | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        path = Path(self.subject_dir)
        if not path.exists():
            raise UserInputError(
                f"no prepared subject at {path}",
                "prepare one: `python -m avatarlab.data.synthetic` then `python -m avatarlab.data.prepare"
                " input=datasets/astronaut_source/video.mp4 name=astronaut size=128`, or pass data.subject_dir=PATH",
            )
        self.data = SubjectArrays(Subject.open(path), self.box_margins)
        log.info(
            "subject %s: %d train / %d held-out frames at %d px",
            self.data.spec.subject,
            len(self.data.train_frames),
            len(self.data.val_frames),
            self.data.spec.size,
        )

    def train_dataloader(self) -> DataLoader:
        assert self.data is not None
        return DataLoader(RayBatches(self.data, **self.kwargs), batch_size=None, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        assert self.data is not None
        return DataLoader(
            HeldOutFrames(self.data, self.val_count, self.kwargs["audio_past"], self.kwargs["audio_future"]),
            batch_size=1,
            num_workers=0,
        )

    def subject_info(self) -> dict[str, Any]:
        """Spec and arrays that size and fill an AvatarModel."""
        assert self.data is not None
        d = self.data
        train = d.train_frames
        return {
            "spec": d.spec,
            "background": d.background,
            "keypoints": d.keypoints[train],
            "frame_conds": d.frame_conds[train],
            "mel": d.mel[train[0] * d.spec.mel_per_frame : (train[-1] + 1) * d.spec.mel_per_frame],
            "poses": d.pose[train],
            "crops": d.crop[train],
            "canonical": d.subject.array("canonical", mmap=False).astype(np.float32),  # [478, 3]
            "keypoint_indices": list(d.subject.keypoint_indices),
        }
