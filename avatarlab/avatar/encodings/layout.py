"""tiny-cuda-nn's HashGrid layout: per-level scale, resolution, table size and parameter offsets.

Conventions (tiny-cuda-nn, include/tiny-cuda-nn/encodings/grid.h), reproduced exactly so that weights
move between the backends:

- level l has ``scale_l = 2 ** (l * log2(b)) * base_resolution - 1`` (float32 arithmetic) and
  ``resolution_l = ceil(scale_l) + 1`` vertices per axis;
- a level needs ``next_multiple(resolution_l ** d, 8)`` entries, capped at ``2 ** log2_hashmap_size``;
  a level whose ``resolution_l ** d`` fits its table is indexed densely (x + y * res + z * res^2),
  otherwise through the spatial hash ``XOR_i(pos_i * prime_i)`` with primes 1, 2654435761, 805459861
  (uint32 arithmetic); either index is taken modulo the table size;
- an input ``x`` in [0, 1] maps to ``pos = x * scale_l + 0.5``; its cell is ``floor(pos)`` and the
  interpolation weights are the fractional part (d-linear interpolation);
- parameters are one flat vector: level tables back to back, each ``[table_size, features]`` row-major;
- the output is level-major: ``out[level * features + f]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PRIMES = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)
UINT32 = 0xFFFFFFFF


def per_level_scale(base_resolution: int, max_resolution: int, num_levels: int) -> float:
    """b = exp((ln(max_res) - ln(base_res)) / (L - 1)), the growth factor between levels."""
    if num_levels <= 1:
        return 1.0
    return math.exp((math.log(max_resolution) - math.log(base_resolution)) / (num_levels - 1))


@dataclass(frozen=True)
class GridLayout:
    """Sizes of every level of a multiresolution grid with tiny-cuda-nn's conventions."""

    dims: int
    num_levels: int
    features_per_level: int
    log2_hashmap_size: int
    base_resolution: int
    per_level_scale: float

    @property
    def scales(self) -> np.ndarray:
        """float32 [L]: scale_l as tiny-cuda-nn computes it (exp2f(l * log2(b)) * base - 1)."""
        log2_scale = np.log2(np.float32(self.per_level_scale))  # float32, as tcnn stores b
        levels = np.arange(self.num_levels, dtype=np.float32)
        return (
            np.exp2(levels * log2_scale).astype(np.float32) * np.float32(self.base_resolution) - np.float32(1.0)
        ).astype(np.float32)

    @property
    def resolutions(self) -> list[int]:
        return [int(math.ceil(float(s))) + 1 for s in self.scales]

    @property
    def table_sizes(self) -> list[int]:
        sizes = []
        for res in self.resolutions:
            dense = min(res**self.dims, UINT32 // 2)
            dense = (dense + 7) // 8 * 8
            sizes.append(min(dense, 1 << self.log2_hashmap_size))
        return sizes

    @property
    def hashed(self) -> list[bool]:
        """True for levels indexed by the spatial hash (their dense grid does not fit the table)."""
        return [res**self.dims > size for res, size in zip(self.resolutions, self.table_sizes)]

    @property
    def offsets(self) -> list[int]:
        """Start (in table rows) of each level in the flat parameter vector, plus the total at the end."""
        return [0, *np.cumsum(self.table_sizes).tolist()]

    @property
    def num_params(self) -> int:
        return self.offsets[-1] * self.features_per_level

    @property
    def output_dim(self) -> int:
        return self.num_levels * self.features_per_level

    def tcnn_config(self) -> dict:
        """The encoding config tiny-cuda-nn takes for this layout."""
        return {
            "otype": "HashGrid",
            "n_levels": self.num_levels,
            "n_features_per_level": self.features_per_level,
            "log2_hashmap_size": self.log2_hashmap_size,
            "base_resolution": self.base_resolution,
            "per_level_scale": self.per_level_scale,
            "interpolation": "Linear",
        }
