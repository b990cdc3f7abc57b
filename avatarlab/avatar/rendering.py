"""Volume rendering along rays, and compositing over the torso layer and the background plate."""

from __future__ import annotations

import torch


def volume_render(
    sigma: torch.Tensor, rgb: torch.Tensor, step: torch.Tensor, depth: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """sigma [R, S], rgb [R, S, 3], step [R, S], depth [R, S] -> premultiplied colour [R, 3], opacity [R], depth [R]."""
    alpha = 1.0 - torch.exp(-sigma * step)  # [R, S]
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-10], dim=1), dim=1)[:, :-1]
    weights = alpha * transmittance  # [R, S]
    colour = (weights[..., None] * rgb).sum(1)
    opacity = weights.sum(1)
    return colour, opacity, (weights * depth).sum(1)


def composite(
    head_rgb: torch.Tensor,
    head_alpha: torch.Tensor,
    torso_rgb: torch.Tensor,
    torso_alpha: torch.Tensor,
    background: torch.Tensor,
) -> torch.Tensor:
    """Head (premultiplied) over torso over background: [..., 3] each, alphas [...]."""
    below = torso_alpha[..., None] * torso_rgb + (1.0 - torso_alpha[..., None]) * background
    return head_rgb + (1.0 - head_alpha[..., None]) * below
