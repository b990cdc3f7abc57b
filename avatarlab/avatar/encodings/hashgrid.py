"""The project's own PyTorch hash-grid encoding (tiny-cuda-nn semantics; see layout.py)."""

from __future__ import annotations

import torch
from torch import nn

from avatarlab.avatar.encodings.layout import PRIMES, UINT32, GridLayout


class _Interpolate(torch.autograd.Function):
    """out[l, n] = sum_c weights[c, l, n] * table[rows[c, l, n]]; backward scatter-adds with bincount."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        corners, levels, n = rows.shape
        values = table.index_select(0, rows.reshape(-1)).view(corners, levels, n, -1)  # [C, L, N, F]
        ctx.save_for_backward(rows, weights, values if ctx.needs_input_grad[2] else None)
        ctx.table_shape = table.shape
        return (values * weights[..., None]).sum(0)  # [L, N, F]

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, None, torch.Tensor | None]:  # type: ignore[override]
        rows, weights, values = ctx.saved_tensors
        grad_table = grad_weights = None
        if ctx.needs_input_grad[0]:
            flat_rows = rows.reshape(-1)
            size, features = ctx.table_shape
            # per-feature weighted bincount: the fastest deterministic scatter-add on CPU
            grad_table = torch.stack(
                [torch.bincount(flat_rows, weights=(weights * grad_out[None, :, :, f]).reshape(-1), minlength=size) for f in range(features)], dim=1
            ).to(grad_out.dtype)  # [rows, F]
        if ctx.needs_input_grad[2]:
            grad_weights = (values * grad_out[None]).sum(-1)  # [C, L, N]
        return grad_table, None, grad_weights


class HashGrid(nn.Module):
    """Multiresolution hash encoding of points in [0, 1]^d (d = 2 or 3), all levels in one gather.

    ``params`` is tiny-cuda-nn's flat parameter vector (same size, order and initialisation range), so
    a state dict loads into either backend.
    """

    def __init__(self, layout: GridLayout, seed: int | None = None) -> None:
        super().__init__()
        if layout.dims not in (2, 3):
            raise ValueError(f"hash grids take 2 or 3 input dimensions, not {layout.dims}")
        self.layout = layout
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self.params = nn.Parameter(torch.rand(layout.num_params, generator=generator) * 2e-4 - 1e-4)
        L, d = layout.num_levels, layout.dims
        hashed = layout.hashed
        self.num_dense = hashed.index(True) if any(hashed) else L
        if any(hashed[: self.num_dense]) or not all(hashed[self.num_dense :]):
            raise ValueError("dense levels must precede hashed ones")
        hashed_sizes = layout.table_sizes[self.num_dense :]
        if any(size & (size - 1) for size in hashed_sizes):
            raise ValueError("hashed levels need power-of-two tables")
        # dense strides per level (tcnn stops multiplying once the stride exceeds the table)
        strides = torch.zeros(L, d, dtype=torch.int64)
        for level, (res, size) in enumerate(zip(layout.resolutions, layout.table_sizes)):
            stride = 1
            for dim in range(d):
                if stride > size:
                    break
                strides[level, dim] = stride
                stride = (stride * res) & UINT32
        corners = torch.tensor([[(c >> dim) & 1 for dim in range(d)] for c in range(1 << d)], dtype=torch.int64)  # [2^d, d]
        primes32 = [p - (1 << 32) if p >= (1 << 31) else p for p in PRIMES[:d]]  # the same bits as int32
        buffers = {
            "scales": torch.from_numpy(layout.scales.copy()),  # [L] float32
            "strides32": strides.to(torch.int32),  # [L, d]
            "dense_corner_offsets": (strides[:, None, :] * corners[None]).sum(-1)[: self.num_dense].to(torch.int32),  # [k, 2^d]
            "table_sizes32": torch.tensor(layout.table_sizes, dtype=torch.int32),  # [L]
            "offsets32": torch.tensor(layout.offsets[:-1], dtype=torch.int32),  # [L]
            "hash_masks32": torch.tensor([s - 1 for s in hashed_sizes], dtype=torch.int32),  # [L - k]
            "primes32": torch.tensor(primes32, dtype=torch.int32),  # [d]
        }
        for name, value in buffers.items():
            self.register_buffer(name, value, persistent=False)

    @property
    def output_dim(self) -> int:
        return self.layout.output_dim

    def corner_indices(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat table rows [2^d, L, N] (int32) and interpolation weights [2^d, L, N] for x [N, d] in [0, 1].

        Level-major [L, N] planes throughout (contiguous, as tcnn's per-level kernel blocks). Corner c
        takes the upper vertex on axis i when bit i of c is set (tcnn's order). Dense indices add, hash
        terms XOR in int32 (the same bits as tcnn's uint32 products), weights multiply. Dense levels come
        first (resolutions grow), so the two kinds are computed apart.
        """
        dtype = self.params.dtype
        d = x.shape[1]
        L, k = self.layout.num_levels, self.num_dense
        pos = x.to(dtype).t()[:, None, :] * self.scales.to(dtype)[None, :, None] + 0.5  # [d, L, N]
        cell = torch.floor(pos)
        frac = pos - cell  # differentiable in x: d frac / dx = scale
        low = cell.detach().to(torch.int32)  # [d, L, N]
        dense_base = sum(low[dim, :k] * self.strides32[:k, dim : dim + 1] for dim in range(d)) if k > 0 else None  # [k, N]
        terms = [(low[dim, k:] * self.primes32[dim], (low[dim, k:] + 1) * self.primes32[dim]) for dim in range(d)] if k < L else []
        weights, rows = [], []
        for corner in range(1 << d):
            bits = [(corner >> dim) & 1 for dim in range(d)]
            w = None
            for dim, bit in enumerate(bits):
                factor = frac[dim] if bit else 1.0 - frac[dim]
                w = factor if w is None else w * factor
            weights.append(w)
            parts = []
            if k > 0:
                index = dense_base + self.dense_corner_offsets[:, corner : corner + 1]  # [k, N]
                size = self.table_sizes32[:k, None]
                parts.append(torch.where(index >= size, index - size, index))  # edge vertices alias, as in tcnn
            if k < L:
                h = terms[0][bits[0]]
                for dim in range(1, d):
                    h = h ^ terms[dim][bits[dim]]
                parts.append(h & self.hash_masks32[:, None])  # [L - k, N]
            rows.append(torch.cat(parts, 0) if len(parts) > 1 else parts[0])
        return torch.stack(rows) + self.offsets32[None, :, None], torch.stack(weights)  # [C, L, N] each

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, d] in [0, 1] -> features [N, L * F] (level-major)."""
        F = self.layout.features_per_level
        rows, weights = self.corner_indices(x)
        out = _Interpolate.apply(self.params.view(-1, F), rows, weights)  # [L, N, F]
        return out.permute(1, 0, 2).reshape(x.shape[0], -1)  # [N, L * F]
