"""The project's own PyTorch hash-grid encoding (tiny-cuda-nn semantics; see layout.py)."""

from __future__ import annotations

import torch
from torch import nn

from avatarlab.avatar.encodings.layout import PRIMES, UINT32, GridLayout


class _Interpolate(torch.autograd.Function):
    """out[l, n] = sum_c weights[l, n, c] * table[rows[l, n, c]].

    Forward: one fused gather-and-weighted-sum (embedding_bag). Backward: a weighted bincount per
    feature for the table (the fastest deterministic scatter-add on CPU), a gather for the weights.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, table: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        levels, n, corners = rows.shape
        out = nn.functional.embedding_bag(
            rows.view(-1, corners), table, per_sample_weights=weights.reshape(-1, corners).to(table.dtype), mode="sum"
        )
        ctx.save_for_backward(table if ctx.needs_input_grad[2] else None, rows, weights)
        ctx.table_shape = table.shape
        return out.view(levels, n, -1)  # [L, N, F]

    @staticmethod
    def backward(  # type: ignore[override]
        ctx, grad_out: torch.Tensor
    ) -> tuple[torch.Tensor | None, None, torch.Tensor | None]:
        table, rows, weights = ctx.saved_tensors
        grad_table = grad_weights = None
        if ctx.needs_input_grad[0]:
            flat_rows = rows.reshape(-1)
            size, features = ctx.table_shape
            grad_table = torch.stack(
                [
                    torch.bincount(flat_rows, weights=(weights * grad_out[:, :, None, f]).reshape(-1), minlength=size)
                    for f in range(features)
                ],
                dim=1,
            ).to(grad_out.dtype)  # [rows, F]
        if ctx.needs_input_grad[2]:
            values = table.index_select(0, rows.reshape(-1)).view(*rows.shape, -1)  # [L, N, C, F]
            grad_weights = (values * grad_out[:, :, None, :]).sum(-1)  # [L, N, C]
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
        strides = torch.zeros(L, d, dtype=torch.int64)  # device: module state (becomes buffers below)
        for level, (res, size) in enumerate(zip(layout.resolutions, layout.table_sizes)):
            stride = 1
            for dim in range(d):
                if stride > size:
                    break
                strides[level, dim] = stride
                stride = (stride * res) & UINT32
        corners = torch.tensor(
            [[(c >> dim) & 1 for dim in range(d)] for c in range(1 << d)], dtype=torch.int64
        )  # [2^d, d]; device: module state (becomes buffers below)
        primes32 = [p - (1 << 32) if p >= (1 << 31) else p for p in PRIMES[:d]]  # the same bits as int32
        buffers = {  # device: module state (registered below, moved with the module)
            "scales": torch.from_numpy(layout.scales.copy()),  # [L] float32
            "strides32": strides.to(torch.int32),  # [L, d]
            "dense_corner_offsets": (strides[:, None, :] * corners[None])
            .sum(-1)[: self.num_dense]
            .to(torch.int32),  # [k, 2^d]
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
        """Flat table rows [L, N, 2^d] (int32) and interpolation weights [L, N, 2^d] for x [N, d] in [0, 1].

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
        n = x.shape[0]
        one_minus = 1.0 - frac
        factors = [(one_minus[dim], frac[dim]) for dim in range(d)]  # per axis: weight of the lower, upper vertex
        rows = torch.empty((L, n, 1 << d), dtype=torch.int32, device=x.device)
        dense_base = (
            sum(low[dim, :k] * self.strides32[:k, dim : dim + 1] for dim in range(d)) if k > 0 else None
        )  # [k, N]
        terms = (
            [(low[dim, k:] * self.primes32[dim], (low[dim, k:] + 1) * self.primes32[dim]) for dim in range(d)]
            if k < L
            else []
        )
        # combine axes 0 and 1 once (4 pairs), then axis 2: fewer passes than corner by corner
        pair_weights = {(b0, b1): factors[0][b0] * factors[1][b1] for b0 in (0, 1) for b1 in (0, 1)}
        pair_hashes = {(b0, b1): terms[0][b0] ^ terms[1][b1] for b0 in (0, 1) for b1 in (0, 1)} if terms else {}
        weights = []
        for corner in range(1 << d):
            bits = [(corner >> dim) & 1 for dim in range(d)]
            w = pair_weights[(bits[0], bits[1])]
            if d == 3:
                w = w * factors[2][bits[2]]
            weights.append(w)
            if k > 0:
                index = dense_base + self.dense_corner_offsets[:, corner : corner + 1]  # [k, N]
                size = self.table_sizes32[:k, None]
                rows[:k, :, corner] = torch.where(index >= size, index - size, index)  # edge vertices alias, as in tcnn
            if k < L:
                h = pair_hashes[(bits[0], bits[1])]
                if d == 3:
                    h = h ^ terms[2][bits[2]]
                rows[k:, :, corner] = h & self.hash_masks32[:, None]  # [L - k, N]
        rows += self.offsets32[:, None, None]
        return rows, torch.stack(weights, dim=-1)  # [L, N, C] each

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, d] in [0, 1] -> features [N, L * F] (level-major)."""
        F = self.layout.features_per_level
        rows, weights = self.corner_indices(x)
        out = _Interpolate.apply(self.params.view(-1, F), rows, weights)  # [L, N, F]
        return out.permute(1, 0, 2).reshape(x.shape[0], -1)  # [N, L * F]
