"""The radiance fields: the head in canonical space (conditioned on a keypoint or audio code) and a
2D torso layer in image space (conditioned on the head pose and crop)."""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_dim: int, hidden: int, out_dim: int, layers: int = 2) -> nn.Sequential:
    """`layers` hidden layers of width `hidden` with ReLU, then a linear output."""
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers):
        mods += [nn.Linear(dim, hidden), nn.ReLU(inplace=True)]
        dim = hidden
    mods.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*mods)


class _TruncExp(torch.autograd.Function):
    """exp with its gradient clamped (instant-ngp's density activation)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * torch.exp(x.clamp(-15, 15))


def trunc_exp(x: torch.Tensor) -> torch.Tensor:
    return _TruncExp.apply(x)


class KeypointCode(nn.Module):
    """Normalised expression keypoints [B, K, 3] -> a low-dimensional code [B, code_dim]."""

    def __init__(self, num_keypoints: int, code_dim: int = 16, hidden: int = 64) -> None:
        super().__init__()
        self.net = mlp(num_keypoints * 3, hidden, code_dim, layers=1)

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        return self.net(keypoints.reshape(keypoints.shape[0], -1))  # [B, K*3] -> [B, C]


class HeadField(nn.Module):
    """Density and colour at canonical points, given an encoding and a per-point condition code.

    The code moves points first (a small deformation, so lips and jaw can open geometrically), then
    enters through a region attention (as ER-NeRF): each point weights the code's channels by a sigmoid
    of its own spatial features, so the mouth can follow the code while the forehead ignores it.
    """

    def __init__(
        self,
        encoding: nn.Module,
        code_dim: int = 16,
        hidden: int = 64,
        geo_dim: int = 15,
        colour_hidden: int = 64,
        density_bias: float = 0.0,
        deform_hidden: int = 0,
        max_deform: float = 0.08,
    ) -> None:
        super().__init__()
        self.encoding = encoding
        self.deform = mlp(3 + code_dim, deform_hidden, 3, layers=1) if deform_hidden > 0 else None
        if self.deform is not None:
            nn.init.zeros_(self.deform[-1].weight)  # start from no motion
            nn.init.zeros_(self.deform[-1].bias)
        self.max_deform = max_deform
        feat = encoding.output_dim
        self.attention = nn.Linear(feat, code_dim)
        self.density_net = mlp(feat + code_dim, hidden, 1 + geo_dim, layers=1)
        self.colour_net = mlp(geo_dim + code_dim, colour_hidden, 3, layers=1)
        self.density_bias = density_bias
        self.feature_weights: torch.Tensor | None = None  # [E] scale of each encoding feature (coarse-to-fine)

    @property
    def num_levels(self) -> int:
        """Levels of the grid (of each of a tri-plane's grids)."""
        return self._grids[0].layout.num_levels

    @property
    def _grids(self) -> list[nn.Module]:
        """The hash grids of the encoding: itself, or a tri-plane's three."""
        return list(getattr(self.encoding, "planes", [self.encoding]))

    def set_level_weights(self, weights: torch.Tensor | None) -> None:
        """Scale each grid level's features by weights [L] (coarse-to-fine training: fine levels faded in);
        None: every level in full. A tri-plane's three grids take the same weights."""
        if weights is None:
            self.feature_weights = None
            return
        grids = self._grids
        layout = grids[0].layout
        if len(weights) != self.num_levels:
            raise ValueError(f"{len(weights)} level weights for a grid of {self.num_levels} levels")
        per_grid = weights.repeat_interleave(layout.features_per_level)  # [L * F], level-major as the features
        self.feature_weights = per_grid.repeat(len(grids))  # [E]

    def density_and_geo(
        self, x_unit: torch.Tensor, code: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x_unit [N, 3], code [N, C] -> sigma [N], geometry features [N, G], attended code [N, C]."""
        if self.deform is not None:
            offset = torch.tanh(self.deform(torch.cat([x_unit, code], -1))) * self.max_deform
            x_unit = (x_unit + offset).clamp(0.0, 1.0)
        h = self.encoding(x_unit)  # [N, E]
        if self.feature_weights is not None:
            h = h * self.feature_weights.to(h.device)
        attended = code * torch.sigmoid(self.attention(h))
        out = self.density_net(torch.cat([h, attended], -1))
        return trunc_exp(out[:, 0] + self.density_bias), out[:, 1:], attended

    def forward(self, x_unit: torch.Tensor, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> sigma [N], rgb [N, 3] in [0, 1]."""
        sigma, geo, attended = self.density_and_geo(x_unit, code)
        rgb = torch.sigmoid(self.colour_net(torch.cat([geo, attended], -1)))
        return sigma, rgb

    def density(self, x_unit: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return self.density_and_geo(x_unit, code)[0]


class TorsoField(nn.Module):
    """Colour and opacity of everything below and behind the head (torso, and corrections to the plate).

    It lives in the source video's pixel plane (where the torso and the background stay put while the
    crop follows the face): a position is displaced by a small pose-dependent offset (neck and
    shoulders follow the head a little), looked up in a 2D hash grid, and a tiny MLP gives colour and
    opacity.
    """

    def __init__(self, encoding: nn.Module, cond_dim: int = 11, hidden: int = 32, max_offset: float = 0.1) -> None:
        super().__init__()
        self.encoding = encoding
        self.deform = mlp(2 + cond_dim, hidden, 2, layers=2)
        self.head = mlp(encoding.output_dim + cond_dim, hidden, 4, layers=1)
        self.max_offset = max_offset

    def forward(self, uv_unit: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uv_unit [N, 2] in [0, 1], cond [N, D] (normalised) -> rgb [N, 3], alpha [N]."""
        offset = torch.tanh(self.deform(torch.cat([uv_unit, cond], -1))) * self.max_offset
        feats = self.encoding((uv_unit + offset).clamp(0.0, 1.0))
        out = self.head(torch.cat([feats, cond], -1))
        return torch.sigmoid(out[:, :3]), torch.sigmoid(out[:, 3])
