"""Volume rendering along rays, and compositing over the torso layer and the background plate."""

from __future__ import annotations

import torch


def ray_weights(sigma: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """How much each sample shows: sigma [R, S], step [R, S] -> weights [R, S] (opacity times transmittance)."""
    alpha = 1.0 - torch.exp(-sigma * step)  # [R, S]
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-10], dim=1), dim=1)[:, :-1]
    return alpha * transmittance


def volume_render(
    sigma: torch.Tensor, rgb: torch.Tensor, step: torch.Tensor, depth: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """sigma [R, S], rgb [R, S, 3], step [R, S], depth [R, S] -> premultiplied colour [R, 3], opacity [R], depth [R]."""
    weights = ray_weights(sigma, step)  # [R, S]
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


def distortion(
    weights: torch.Tensor, depth: torch.Tensor, step: torch.Tensor, near: torch.Tensor, far: torch.Tensor
) -> torch.Tensor:
    """Mip-NeRF 360's distortion loss per ray [R]: low when a ray's weight sits in one short interval (a surface),
    high when it is spread along the ray (a cloud). weights, depth (sample positions), step [R, S]; near, far [R].
    Distances are fractions of the ray's path through the box."""
    span = (far - near).clamp_min(1e-6)[:, None]  # [R, 1]
    s = (depth - near[:, None]) / span  # [R, S]
    spread = (weights[:, :, None] * weights[:, None, :] * (s[:, :, None] - s[:, None, :]).abs()).sum((1, 2))
    return spread + (weights**2 * step / span).sum(1) / 3.0


def pixel_filter(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """A frame [H, W, 3] whose pixels are averaged over their footprint: a Gaussian of `sigma` pixels (5 taps,
    borders repeated; 0: the frame as it is). A ray through a pixel's centre point-samples detail finer than the
    pixel, which shows as a speckle; the footprint's average does not."""
    if sigma <= 0:
        return image
    taps = torch.arange(-2, 3, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    planes = image.permute(2, 0, 1)[:, None]  # [3, 1, H, W]
    padded = torch.nn.functional.pad(planes, (2, 2, 2, 2), mode="replicate")
    rows = torch.nn.functional.conv2d(padded, kernel.reshape(1, 1, 1, 5))  # [3, 1, H + 4, W]
    both = torch.nn.functional.conv2d(rows, kernel.reshape(1, 1, 5, 1))  # [3, 1, H, W]
    return both[:, 0].permute(1, 2, 0)
