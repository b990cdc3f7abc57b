"""Tri-plane encoding (as ER-NeRF): three 2D hash grids over the xy, yz and xz planes, concatenated."""

from __future__ import annotations

import torch
from torch import nn

PLANES = ((0, 1), (1, 2), (0, 2))


class TriPlane(nn.Module):
    """x [N, 3] in [0, 1] -> [N, 3 * L * F]: the features of the three plane projections side by side."""

    def __init__(self, planes: list[nn.Module]) -> None:
        super().__init__()
        if len(planes) != 3:
            raise ValueError("a tri-plane needs three 2D grids")
        self.planes = nn.ModuleList(planes)

    @property
    def output_dim(self) -> int:
        return sum(p.output_dim for p in self.planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([grid(x[:, list(axes)]) for grid, axes in zip(self.planes, PLANES)], dim=-1)
