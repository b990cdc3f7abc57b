"""Camera rays in head-canonical space, the head box, and which pixels can see it."""

from __future__ import annotations

import torch

from avatarlab.data.head_pose import pinhole


def camera_rays(pose: torch.Tensor, camera: dict[str, float], uv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through pixel positions uv [B, R, 2] (pixel units, centres at i + 0.5) for canonical->camera
    poses [B, 4, 4] (OpenCV axes). Returns origins [B, R, 3] and unit directions [B, R, 3] in canonical space."""
    rotation, translation = pose[:, :3, :3], pose[:, :3, 3]
    cam = torch.stack(
        [
            (uv[..., 0] - camera["cx"]) / camera["fx"],
            (uv[..., 1] - camera["cy"]) / camera["fy"],
            torch.ones_like(uv[..., 0]),
        ],
        dim=-1,
    )  # [B, R, 3]
    directions = cam @ rotation  # rows: R^T d
    directions = directions / directions.norm(dim=-1, keepdim=True)
    origins = -(translation[:, None, :] @ rotation)  # [B, 1, 3] = -R^T t
    return origins.expand_as(directions), directions


def intersect_box(
    origins: torch.Tensor, directions: torch.Tensor, box_min: torch.Tensor, box_max: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slab test: near [...], far [...] and hit [...] (bool) of rays against an axis-aligned box."""
    inv = 1.0 / torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9), directions)
    t0 = (box_min - origins) * inv
    t1 = (box_max - origins) * inv
    near = torch.minimum(t0, t1).amax(-1).clamp_min(0.0)
    far = torch.maximum(t0, t1).amin(-1)
    return near, far, far > near + 1e-6


def box_pixel_rect(
    pose: torch.Tensor, camera: dict[str, float], box_min: torch.Tensor, box_max: torch.Tensor, size: int
) -> tuple[int, int, int, int]:
    """Integer pixel rectangle (x0, y0, x1, y1), half-open, covering the projected head box for one pose [4, 4]."""
    corners = torch.stack(
        torch.meshgrid(*[torch.stack([box_min[i], box_max[i]]) for i in range(3)], indexing="ij"), -1
    ).reshape(8, 3)
    cam = corners @ pose[:3, :3].T + pose[:3, 3]
    if (cam[:, 2] <= 1e-6).any():
        return 0, 0, size, size
    x, y = pinhole(cam, camera)
    x0, x1 = int(torch.floor(x.min()).clamp(0, size)), int(torch.ceil(x.max()).clamp(0, size))
    y0, y1 = int(torch.floor(y.min()).clamp(0, size)), int(torch.ceil(y.max()).clamp(0, size))
    return x0, y0, x1, y1


def pixel_grid(x0: int, y0: int, x1: int, y1: int, device: torch.device | str) -> torch.Tensor:
    """Pixel centres [H*W, 2] of a rectangle on `device`, row-major (y outer, x inner)."""
    ys, xs = torch.meshgrid(
        torch.arange(y0, y1, dtype=torch.float32, device=device),
        torch.arange(x0, x1, dtype=torch.float32, device=device),
        indexing="ij",
    )
    return torch.stack([xs, ys], -1).reshape(-1, 2) + 0.5
