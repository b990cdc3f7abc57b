"""A slow, literal float64 transcription of tiny-cuda-nn's grid kernels, for checking the fast backends."""

from __future__ import annotations

import math

import numpy as np

from avatarlab.avatar.encodings.layout import PRIMES, UINT32, GridLayout


def _grid_index(layout: GridLayout, level: int, corner: list[int]) -> int:
    """tcnn grid_index: dense while the stride fits the table, else the XOR prime hash; modulo table size."""
    size = layout.table_sizes[level]
    res = layout.resolutions[level]
    stride, index = 1, 0
    for dim in range(layout.dims):
        if stride > size:
            break
        index = (index + corner[dim] * stride) & UINT32
        stride = (stride * res) & UINT32
    if size < stride:
        index = 0
        for dim in range(layout.dims):
            index ^= (corner[dim] * PRIMES[dim]) & UINT32
    return index % size


def reference_encode(
    layout: GridLayout, params: np.ndarray, points: np.ndarray, grad_out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values [N, L*F] and, for an upstream gradient grad_out [N, L*F], the gradients with respect to
    params [P] and points [N, d]; all float64. One point, level and corner at a time, as the kernel walks them.
    """
    params = np.asarray(params, np.float64)
    points = np.asarray(points, np.float64)
    F, d = layout.features_per_level, layout.dims
    n, out_dim = len(points), layout.output_dim
    grad_out = np.zeros((n, out_dim)) if grad_out is None else np.asarray(grad_out, np.float64)
    values = np.zeros((n, out_dim))
    grad_params = np.zeros(params.size)
    grad_points = np.zeros((n, d))
    scales = [float(s) for s in layout.scales]
    for i, x in enumerate(points):
        for level in range(layout.num_levels):
            scale = scales[level]
            pos = [x[dim] * scale + 0.5 for dim in range(d)]
            cell = [math.floor(p) for p in pos]
            frac = [p - c for p, c in zip(pos, cell)]
            for corner_id in range(1 << d):
                weight, dweight, corner = 1.0, [1.0] * d, []
                for dim in range(d):
                    upper = (corner_id >> dim) & 1
                    corner.append((cell[dim] + upper) & UINT32)
                    factor = frac[dim] if upper else 1.0 - frac[dim]
                    weight *= factor
                    for g in range(d):
                        dweight[g] *= (scale if upper else -scale) if g == dim else factor
                row = layout.offsets[level] + _grid_index(layout, level, corner)
                for f in range(F):
                    value = params[row * F + f]
                    upstream = grad_out[i, level * F + f]
                    values[i, level * F + f] += weight * value
                    grad_params[row * F + f] += weight * upstream
                    for g in range(d):
                        grad_points[i, g] += dweight[g] * value * upstream
    return values, grad_params, grad_points
