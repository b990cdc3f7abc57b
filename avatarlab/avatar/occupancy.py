"""Where the head is: an occupancy grid over the head box, and the ray sampler that uses it.

Candidates are spaced uniformly between the box entry and exit; the sampler keeps those that fall in
occupied cells, all of them when there are at most `max_samples`, else every k-th (k the smallest
stride that fits), so the field is evaluated a few times per ray instead of 128 and, once the grid
is sharp, densely around the surface. Until the grid has been estimated from
the field (warm-up), samples are stratified over the whole box.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class OccupancyGrid(nn.Module):
    """A G^3 grid of density estimates (EMA of the field's max over conditions) and its occupied bits."""

    def __init__(self, resolution: int = 48, decay: float = 0.9, threshold: float = 0.01, dilation: int = 1) -> None:
        super().__init__()
        self.resolution = resolution
        self.decay = decay
        self.threshold = threshold  # on opacity per candidate step: 1 - exp(-sigma * step) > threshold
        self.dilation = dilation
        self.register_buffer("density", torch.zeros(resolution**3))
        self.register_buffer("occupied", torch.ones(resolution**3, dtype=torch.bool))
        self.register_buffer("initialised", torch.tensor(False))

    def cells(self, x_unit: torch.Tensor) -> torch.Tensor:
        """Flat cell index [...] of unit-box points [..., 3] (x fastest)."""
        g = self.resolution
        ijk = (x_unit * g).long().clamp(0, g - 1)
        return ijk[..., 0] + g * (ijk[..., 1] + g * ijk[..., 2])

    def lookup(self, x_unit: torch.Tensor) -> torch.Tensor:
        return self.occupied[self.cells(x_unit)]

    def cell_centres(self, jitter: bool = True) -> torch.Tensor:
        """Unit-box positions [G^3, 3] of every cell (x fastest), jittered inside the cell when asked."""
        g = self.resolution
        idx = torch.arange(g, dtype=torch.float32, device=self.density.device)
        zz, yy, xx = torch.meshgrid(idx, idx, idx, indexing="ij")
        grid = torch.stack([xx, yy, zz], -1).reshape(-1, 3)
        offset = torch.rand_like(grid) if jitter else torch.full_like(grid, 0.5)
        return (grid + offset) / g

    @torch.no_grad()
    def update(self, density_fn: Callable[[torch.Tensor], torch.Tensor], step_size: float, chunk: int = 65536) -> None:
        """Re-estimate from `density_fn` (unit points [N, 3] -> sigma [N]) and refresh the occupied bits."""
        points = self.cell_centres(jitter=bool(self.initialised))
        fresh = torch.cat([density_fn(points[i : i + chunk]) for i in range(0, len(points), chunk)])
        self.density.copy_(torch.maximum(self.density * self.decay, fresh) if bool(self.initialised) else fresh)
        self.refresh(step_size)
        self.initialised.fill_(True)

    @torch.no_grad()
    def refresh(self, step_size: float, threshold: float | None = None) -> None:
        """Recompute the occupied bits from the density estimates (optionally with a new opacity threshold)."""
        if threshold is not None:
            self.threshold = threshold
        opacity = 1.0 - torch.exp(-self.density * step_size)
        occupied = (opacity > self.threshold).float().view(1, 1, *(self.resolution,) * 3)
        if self.dilation > 0:
            k = 2 * self.dilation + 1
            occupied = nn.functional.max_pool3d(occupied, k, stride=1, padding=self.dilation)
        bits = occupied.view(-1) > 0
        if (
            float(bits.float().mean()) < 0.002
        ):  # an empty grid is uninformative (untrained field): keep sampling everywhere
            bits = torch.ones_like(bits)
        self.occupied.copy_(bits)

    @property
    def occupied_fraction(self) -> float:
        return float(self.occupied.float().mean())


def sample_along_rays(
    near: torch.Tensor,
    far: torch.Tensor,
    hit: torch.Tensor,
    box_min: torch.Tensor,
    box_max: torch.Tensor,
    origins: torch.Tensor,
    directions: torch.Tensor,
    grid: OccupancyGrid | None,
    candidates: int,
    max_samples: int,
    jitter: bool,
    front: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Samples for R rays (all inputs flat: near/far/hit [R], origins/directions [R, 3]).

    Returns unit-box points (box_min -> 0, box_max -> 1) [R, S, 3], step lengths [R, S], validity [R, S]
    (bool), depths [R, S],
    with S = max_samples; invalid slots are to be given zero density. With `front`, the first S occupied
    candidates are kept at full resolution (the visible surface comes first; for rendering with early
    termination) instead of every k-th over the whole ray.
    """
    R, device = near.shape[0], near.device
    length = (far - near).clamp_min(0.0)
    span = box_max - box_min

    def to_unit(points: torch.Tensor) -> torch.Tensor:
        return ((points - box_min) / span).clamp(0.0, 1.0)

    if grid is None or not bool(grid.initialised):
        # warm-up: stratified samples over the whole box segment
        offsets = (
            torch.rand(R, max_samples, device=device) if jitter else torch.full((R, max_samples), 0.5, device=device)
        )
        ticks = torch.arange(max_samples, device=device)[None]
        t = near[:, None] + length[:, None] * (ticks + offsets) / max_samples  # [R, S]
        step = (length / max_samples)[:, None].expand(R, max_samples)
        valid = hit[:, None].expand(R, max_samples)
    else:
        offsets = (
            torch.rand(R, candidates, device=device) if jitter else torch.full((R, candidates), 0.5, device=device)
        )
        ticks = torch.arange(candidates, device=device)[None]
        t_all = near[:, None] + length[:, None] * (ticks + offsets) / candidates  # [R, M]
        # occupancy lookups in unit-box coordinates, straight from the rays (cheaper than whole points)
        unit_origin, unit_step = (origins - box_min) / span, directions / span  # [R, 3], no clamping
        g = grid.resolution
        cell = torch.zeros(R, candidates, dtype=torch.int32, device=device)
        for axis, weight in enumerate((1, g, g * g)):
            coordinate = torch.addcmul(unit_origin[:, axis : axis + 1], unit_step[:, axis : axis + 1], t_all)  # [R, M]
            cell += (coordinate * g).clamp_(0, g - 1).to(torch.int32) * weight
        occupied = grid.occupied[cell] & hit[:, None]  # [R, M]
        rank = occupied.cumsum(1) - 1  # 0-based rank of each occupied candidate
        count = rank[:, -1] + 1  # occupied candidates per ray
        stride = (
            torch.ones_like(count) if front else ((count + max_samples - 1) // max_samples).clamp_min(1)
        )  # > 1 only where more than S are occupied
        keep = occupied & (rank % stride[:, None] == 0) & (rank // stride[:, None] < max_samples)
        ray_idx, cand_idx = keep.nonzero(as_tuple=True)
        slot = rank[ray_idx, cand_idx] // stride[ray_idx]
        t = torch.zeros(R, max_samples, device=device)
        t[ray_idx, slot] = t_all[ray_idx, cand_idx]
        valid = torch.zeros(R, max_samples, dtype=torch.bool, device=device)
        valid[ray_idx, slot] = True
        step = torch.where(valid, (length / candidates * stride)[:, None], 0.0)
    points = to_unit(origins[:, None, :] + directions[:, None, :] * t[..., None])  # [R, S, 3]
    return points, step, valid, t
