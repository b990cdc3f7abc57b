"""Hash-grid encodings: tiny-cuda-nn semantics, a PyTorch backend, a tcnn backend and a float64 reference."""

from __future__ import annotations

import logging

import torch
from torch import nn

from avatarlab.avatar.encodings.hashgrid import HashGrid
from avatarlab.avatar.encodings.layout import GridLayout, per_level_scale
from avatarlab.avatar.encodings.tcnn_backend import TcnnHashGrid, tcnn_available
from avatarlab.avatar.encodings.triplane import TriPlane

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "tcnn")


def resolve_backend(backend: str, device: torch.device | str = "cpu") -> str:
    """`auto` -> tcnn when tinycudann imports and the device is CUDA, torch otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown hash-grid backend {backend!r}; choose one of {BACKENDS}")
    if backend == "auto":
        return "tcnn" if torch.device(device).type == "cuda" and tcnn_available() else "torch"
    if backend == "tcnn" and not tcnn_available():
        raise RuntimeError("backend=tcnn needs CUDA and the tinycudann module; use backend=torch or backend=auto")
    return backend


def hash_grid(
    dims: int,
    num_levels: int = 12,
    features_per_level: int = 2,
    log2_hashmap_size: int = 15,
    base_resolution: int = 16,
    max_resolution: int = 512,
    backend: str = "auto",
    device: torch.device | str = "cpu",
    seed: int | None = None,
) -> nn.Module:
    """A d-dimensional multiresolution hash grid; the per-level scale spans base -> max resolution.

    `device` is where the grid will run: with `backend="auto"` it picks tcnn on CUDA (when tinycudann
    imports), the PyTorch grid otherwise. The grid is built on the CPU (tcnn's on CUDA); move it with `.to()`.
    """
    layout = GridLayout(
        dims,
        num_levels,
        features_per_level,
        log2_hashmap_size,
        base_resolution,
        per_level_scale(base_resolution, max_resolution, num_levels),
    )
    chosen = resolve_backend(backend, device)
    return TcnnHashGrid(layout, seed) if chosen == "tcnn" else HashGrid(layout, seed)


def make_encoding(kind: str = "hash3d", **grid: object) -> nn.Module:
    """`hash3d`: one 3D hash grid; `hash2d`: one 2D grid; `triplane`: three 2D hash grids (same level settings).

    `grid` holds hash_grid's settings, `backend` and `device` among them.
    """
    if kind == "hash3d":
        return hash_grid(3, **grid)  # type: ignore[arg-type]
    if kind == "hash2d":
        return hash_grid(2, **grid)  # type: ignore[arg-type]
    if kind == "triplane":
        seed = grid.pop("seed", None)
        seeds = [None if seed is None else int(seed) + i for i in range(3)]  # type: ignore[call-overload]
        return TriPlane([hash_grid(2, seed=s, **grid) for s in seeds])  # type: ignore[arg-type]
    raise ValueError(f"unknown encoding {kind!r}; choose hash3d, hash2d or triplane")


def level_mean_squares(grid: nn.Module) -> torch.Tensor:
    """Sum over levels of the mean squared feature of each level's table (Mip-NeRF 360 / Zip-NeRF's normalised
    weight decay on grid features: a small level and a big one weigh alike) for a HashGrid, a TcnnHashGrid or
    a TriPlane (its three grids summed)."""
    if isinstance(grid, TriPlane):
        return torch.stack([level_mean_squares(plane) for plane in grid.planes]).sum()
    layout: GridLayout = grid.layout  # type: ignore[assignment]
    params = grid.params if isinstance(grid, HashGrid) else grid.encoding.params  # the same flat layout
    rows = params.view(-1, layout.features_per_level).float()  # [table rows of all levels, F]
    bounds = layout.offsets
    return torch.stack([rows[a:b].square().mean() for a, b in zip(bounds[:-1], bounds[1:])]).sum()


__all__ = [
    "GridLayout",
    "HashGrid",
    "TcnnHashGrid",
    "TriPlane",
    "hash_grid",
    "level_mean_squares",
    "make_encoding",
    "per_level_scale",
    "resolve_backend",
    "tcnn_available",
]
