"""The avatar's training batches: rays through face points of the canonical shape land on those points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from avatarlab.avatar.datamodule import AvatarDataModule, surface_rays
from avatarlab.avatar.rays import camera_rays
from avatarlab.config_args import from_config
from avatarlab.data.face_landmarks import FIXED_SURFACE
from avatarlab.data.subject import Subject


def test_a_surface_ray_meets_its_face_point_at_its_depth(tiny_subject: Path) -> None:
    subject = Subject.open(tiny_subject)
    points = np.load(tiny_subject / "canonical.npy")[FIXED_SURFACE].astype(np.float32)  # [P, 3]
    pose = subject.pose[:3].astype(np.float32)
    uv, depth = surface_rays(points, pose, subject.camera)
    assert uv.shape == (3, len(points), 2) and depth.shape == (3, len(points))
    landmarks = subject.landmarks[:3][:, FIXED_SURFACE, :2]  # the tiny face's landmarks are its projected points
    np.testing.assert_allclose(uv, landmarks, atol=1e-3)
    origins, directions = camera_rays(torch.from_numpy(pose), subject.camera, torch.from_numpy(uv))
    reached = (origins + torch.from_numpy(depth)[..., None] * directions).numpy()  # [3, P, 3]
    np.testing.assert_allclose(reached, np.broadcast_to(points, reached.shape), atol=1e-3)


def module(subject_dir: Path, depth_rays: int, pixel_jitter: float = 0.0) -> AvatarDataModule:
    data = from_config(
        "data/avatar_subject.yaml", subject_dir=str(subject_dir), depth_rays=depth_rays, pixel_jitter=pixel_jitter
    )
    data.setup()
    return data


def test_batches_carry_surface_rays_when_asked(tiny_subject: Path) -> None:
    batch = next(iter(module(tiny_subject, depth_rays=16).train_dataloader()))
    frames = batch["pose"].shape[0]
    assert batch["surface_uv"].shape == (frames, 16, 2) and batch["surface_depth"].shape == (frames, 16)
    assert "surface_uv" not in next(iter(module(tiny_subject, depth_rays=0).train_dataloader()))


def test_rays_go_through_their_pixels_centre_or_anywhere_in_it(tiny_subject: Path) -> None:
    centred = next(iter(module(tiny_subject, depth_rays=0).train_dataloader()))["uv"]
    np.testing.assert_array_equal(centred.numpy() % 1.0, 0.5)
    data = module(tiny_subject, depth_rays=0, pixel_jitter=1.0)
    batch = next(iter(data.train_dataloader()))
    uv, frames = batch["uv"].numpy(), batch["frame"].numpy()  # [B, R, 2], [B]
    inside = uv % 1.0
    assert inside.min() >= 0.0 and inside.max() < 1.0 and inside.std() > 0.2  # spread over the whole pixel
    pixels = np.floor(uv).astype(np.int64)  # the colour is still its pixel's
    expected = data.data.frames[frames[:, None], pixels[..., 1], pixels[..., 0]].astype(np.float32) / 255.0
    np.testing.assert_allclose(batch["rgb"].numpy(), expected)


def test_a_pixel_jitter_outside_the_pixel_is_refused(tiny_subject: Path) -> None:
    with pytest.raises(ValueError, match="share of a pixel"):
        next(iter(module(tiny_subject, depth_rays=0, pixel_jitter=1.5).train_dataloader()))
