"""Hash-grid encodings against a float64 transcription of tiny-cuda-nn's kernels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avatarlab.avatar.encodings import (
    GridLayout,
    HashGrid,
    TriPlane,
    hash_grid,
    level_mean_squares,
    make_encoding,
    per_level_scale,
    resolve_backend,
    tcnn_available,
)
from avatarlab.avatar.encodings.reference import reference_encode

# small layouts with both dense (coarse) and hashed (fine) levels
LAYOUT_3D = GridLayout(3, 6, 2, 10, 4, per_level_scale(4, 128, 6))
LAYOUT_2D = GridLayout(2, 6, 2, 8, 4, per_level_scale(4, 256, 6))


def test_layout_follows_tcnn() -> None:
    b = per_level_scale(16, 512, 12)
    assert b == pytest.approx(math.exp((math.log(512) - math.log(16)) / 11))
    layout = GridLayout(3, 12, 2, 15, 16, b)
    assert layout.resolutions[0] == 16  # scale 15 -> ceil(15) + 1
    assert layout.resolutions[-1] == 512
    assert layout.table_sizes[0] == 16**3  # dense: 4096 fits 2^15
    assert layout.hashed[0] is False and layout.hashed[-1] is True
    assert all(size <= 2**15 for size in layout.table_sizes)
    assert layout.num_params == sum(layout.table_sizes) * 2
    assert layout.output_dim == 24
    assert layout.hashed == sorted(layout.hashed)  # dense levels first


@pytest.mark.parametrize("layout", [LAYOUT_3D, LAYOUT_2D], ids=["3d", "2d"])
def test_values_and_gradients_match_reference(layout: GridLayout) -> None:
    assert any(layout.hashed) and not all(layout.hashed)
    grid = HashGrid(layout, seed=0).double()
    with torch.no_grad():
        grid.params.uniform_(-1, 1)
    x = torch.rand(40, layout.dims, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).requires_grad_(
        True
    )
    y = grid(x)
    upstream = torch.randn_like(y)
    y.backward(upstream)
    values, grad_params, grad_points = reference_encode(
        layout, grid.params.detach().numpy(), x.detach().numpy(), upstream.numpy()
    )
    np.testing.assert_allclose(y.detach().numpy(), values, atol=1e-12)
    np.testing.assert_allclose(grid.params.grad.numpy(), grad_params, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), grad_points, rtol=1e-9, atol=1e-9)


def test_float32_close_to_reference() -> None:
    grid = HashGrid(LAYOUT_3D, seed=0)
    x = torch.rand(64, 3)
    values, _, _ = reference_encode(LAYOUT_3D, grid.params.detach().double().numpy(), x.double().numpy())
    np.testing.assert_allclose(grid(x).detach().numpy(), values, atol=1e-6)


def test_hash_levels_really_hash() -> None:
    """A hashed level maps two far-apart vertices through the prime XOR; the reference agrees on which row."""
    grid = HashGrid(LAYOUT_3D)
    rows, _ = grid.corner_indices(torch.tensor([[0.9, 0.7, 0.3]]))
    level = LAYOUT_3D.num_levels - 1
    res, size = LAYOUT_3D.resolutions[level], LAYOUT_3D.table_sizes[level]
    cell = [math.floor(v * float(LAYOUT_3D.scales[level]) + 0.5) for v in (0.9, 0.7, 0.3)]
    expected = (cell[0] * 1 ^ (cell[1] * 2654435761) & 0xFFFFFFFF ^ (cell[2] * 805459861) & 0xFFFFFFFF) % size
    assert int(rows[level, 0, 0]) - LAYOUT_3D.offsets[level] == expected
    assert res**3 > size


def test_state_dict_is_tcnn_shaped() -> None:
    grid = hash_grid(3, 4, 2, 12, 8, 64, backend="torch")
    state = grid.state_dict()
    assert list(state) == ["params"] and state["params"].shape == (grid.layout.num_params,)
    assert float(state["params"].abs().max()) <= 1e-4  # tcnn's init range


def test_triplane_concatenates_three_planes() -> None:
    tri = make_encoding(
        "triplane",
        num_levels=4,
        features_per_level=2,
        log2_hashmap_size=10,
        base_resolution=4,
        max_resolution=64,
        backend="torch",
        seed=0,
    )
    assert isinstance(tri, TriPlane)
    x = torch.rand(10, 3)
    out = tri(x)
    assert out.shape == (10, 3 * 8)
    np.testing.assert_allclose(out[:, 8:16].detach().numpy(), tri.planes[1](x[:, [1, 2]]).detach().numpy())


def test_level_mean_squares_weighs_every_level_alike() -> None:
    grid = HashGrid(LAYOUT_3D, seed=0)
    with torch.no_grad():
        grid.params.copy_(torch.randn(LAYOUT_3D.num_params))
    table = grid.params.detach().double().numpy().reshape(-1, LAYOUT_3D.features_per_level)
    offsets = LAYOUT_3D.offsets
    expected = sum(float(np.mean(table[a:b] ** 2)) for a, b in zip(offsets[:-1], offsets[1:]))
    value = level_mean_squares(grid)
    assert value.item() == pytest.approx(expected, rel=1e-5)
    value.backward()  # a small level's features are pulled harder than a big one's, each by 2 v / its size
    grad = grid.params.grad.view(-1, LAYOUT_3D.features_per_level)
    first, last = offsets[0], offsets[-2]
    sizes = LAYOUT_3D.table_sizes
    np.testing.assert_allclose(grad[first].numpy(), 2 * table[first] / (sizes[0] * 2), rtol=1e-5)
    np.testing.assert_allclose(grad[last].numpy(), 2 * table[last] / (sizes[-1] * 2), rtol=1e-5)
    tri = make_encoding("triplane", num_levels=3, features_per_level=2, log2_hashmap_size=8, base_resolution=4,
                        max_resolution=32, backend="torch", seed=0)  # fmt: skip
    assert level_mean_squares(tri).item() == pytest.approx(sum(level_mean_squares(p).item() for p in tri.planes))


def test_backend_selection() -> None:
    assert resolve_backend("auto", "cpu") == "torch"
    assert resolve_backend("torch") == "torch"
    with pytest.raises(ValueError):
        resolve_backend("cuda-magic")
    if not tcnn_available():
        with pytest.raises(RuntimeError, match="tinycudann"):
            resolve_backend("tcnn")


@pytest.mark.skipif(not tcnn_available(), reason="needs CUDA and the tinycudann module")
def test_tcnn_parity() -> None:  # pragma: no cover - runs on CUDA machines only
    from avatarlab.avatar.encodings import TcnnHashGrid

    for layout in (
        GridLayout(3, 8, 2, 14, 16, per_level_scale(16, 512, 8)),
        GridLayout(2, 8, 2, 12, 16, per_level_scale(16, 512, 8)),
    ):
        ours = HashGrid(layout, seed=0)
        theirs = TcnnHashGrid(layout).cuda()
        theirs.load_state_dict(ours.state_dict())
        x = torch.rand(4096, layout.dims)
        np.testing.assert_allclose(theirs(x.cuda()).cpu().detach().numpy(), ours(x).detach().numpy(), atol=1e-5)
        assert torch.equal(theirs.state_dict()["params"].cpu(), ours.state_dict()["params"])
