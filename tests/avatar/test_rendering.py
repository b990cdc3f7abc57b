"""Rays, the occupancy sampler, the fields and the renderer: shapes, and empty space showing the plate."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from avatarlab.avatar.encodings import make_encoding
from avatarlab.avatar.fields import HeadField, TorsoField
from avatarlab.avatar.model import PLACEMENTS, AvatarModel
from avatarlab.avatar.occupancy import OccupancyGrid, sample_along_rays
from avatarlab.avatar.rays import box_pixel_rect, camera_rays, intersect_box
from avatarlab.avatar.rendering import composite, distortion, pixel_filter, ray_weights, volume_render
from avatarlab.config_args import config_args, from_config
from avatarlab.metrics.image import psnr

GRID = {"num_levels": 4, "features_per_level": 2, "log2_hashmap_size": 10, "base_resolution": 4, "max_resolution": 32}


@pytest.fixture()
def model(tiny_subject: Path) -> AvatarModel:
    dm = from_config("data/avatar_subject.yaml", subject_dir=str(tiny_subject))
    dm.setup()
    info = dm.subject_info()
    args = config_args(
        "model/avatar_field.yaml",
        "model",
        encoding=GRID,
        torso_encoding=GRID,
        backend="torch",
        occupancy_resolution=16,
        candidates=32,
        front_candidates=32,
        render_samples=8,
    )
    m = AvatarModel(info["spec"], len(info["poses"]), device="cpu", **args)
    m.set_subject(info["background"], info["keypoints"], info["frame_conds"], info["mel"], info["poses"], info["crops"])
    return m.eval()


def test_rays_point_through_the_principal_point() -> None:
    pose = torch.eye(4)[None]
    pose[0, 2, 3] = 10.0  # canonical origin 10 units in front of the camera
    camera = {"fx": 100.0, "fy": 100.0, "cx": 16.0, "cy": 16.0}
    origins, directions = camera_rays(pose, camera, torch.tensor([[[16.0, 16.0], [32.0, 16.0]]]))
    np.testing.assert_allclose(origins[0, 0].numpy(), [0, 0, -10], atol=1e-6)
    np.testing.assert_allclose(directions[0, 0].numpy(), [0, 0, 1], atol=1e-6)
    assert directions[0, 1, 0] > 0  # right of centre -> +x
    near, far, hit = intersect_box(origins[0], directions[0], torch.tensor([-1.0, -1, -1]), torch.tensor([1.0, 1, 1]))
    assert bool(hit[0]) and near[0] == pytest.approx(9.0) and far[0] == pytest.approx(11.0)
    x0, y0, x1, y1 = box_pixel_rect(pose[0], camera, torch.tensor([-1.0, -1, -1]), torch.tensor([1.0, 1, 1]), 32)
    assert x0 < 16 < x1 and y0 < 16 < y1


def test_volume_render_and_composite() -> None:
    sigma = torch.zeros(3, 5)
    rgb = torch.rand(3, 5, 3)
    colour, opacity, _ = volume_render(sigma, rgb, torch.full((3, 5), 0.1), torch.rand(3, 5))
    assert torch.all(colour == 0) and torch.all(opacity == 0)
    solid, alpha, _ = volume_render(
        torch.full((1, 4), 1e4), torch.ones(1, 4, 3) * 0.5, torch.full((1, 4), 0.1), torch.rand(1, 4)
    )
    assert float(alpha[0]) == pytest.approx(1.0) and torch.allclose(solid, torch.full((1, 3), 0.5))
    background = torch.rand(3, 3)
    assert torch.equal(composite(colour, opacity, torch.rand(3, 3), torch.zeros(3), background), background)


def test_distortion_is_low_for_a_surface_and_high_for_a_cloud() -> None:
    depth = torch.linspace(0.05, 0.95, 10)[None].repeat(2, 1)  # near 0, far 1: fractions of the path
    step = torch.full((2, 10), 0.1)
    weights = torch.zeros(2, 10)
    weights[0, 4] = 1.0  # all in one interval
    weights[1] = 0.1  # spread evenly
    near, far = torch.zeros(2), torch.ones(2)
    got = distortion(weights, depth, step, near, far)
    surface = 1.0 * 0.1 / 3  # no pairs apart; the interval's own term
    cloud = sum(0.01 * abs(a - b) for a in depth[1].tolist() for b in depth[1].tolist()) + 10 * 0.01 * 0.1 / 3
    torch.testing.assert_close(got, torch.tensor([surface, cloud]), rtol=1e-5, atol=1e-7)
    assert got[1] > 5 * got[0]
    sigma = torch.tensor([[0.0, 50.0, 50.0]])
    torch.testing.assert_close(
        ray_weights(sigma, torch.full((1, 3), 0.1)).sum(),
        volume_render(sigma, torch.ones(1, 3, 3), torch.full((1, 3), 0.1), torch.rand(1, 3))[1][0],
    )


def test_occupancy_grid_and_sampler() -> None:
    grid = OccupancyGrid(resolution=16, dilation=0)
    grid.update(lambda x: 100.0 * ((x - 0.5).norm(dim=-1) < 0.25).float(), step_size=0.05)
    assert 0.03 < grid.occupied_fraction < 0.1  # a ball of radius 1/4: 6.5% of the cube
    R = 50
    origins = torch.tensor([[0.5, 0.5, -1.0]]).repeat(R, 1) + torch.randn(R, 3) * torch.tensor([0.05, 0.05, 0.0])
    directions = torch.tensor([[0.0, 0.0, 1.0]]).repeat(R, 1)
    near, far, hit = intersect_box(origins, directions, torch.zeros(3), torch.ones(3))
    points, step, valid, depth = sample_along_rays(
        near, far, hit, torch.zeros(3), torch.ones(3), origins, directions, grid, 64, 8, jitter=True
    )
    assert points.shape == (R, 8, 3) and valid.any()
    assert bool(grid.lookup(points[valid]).all())  # every kept sample is in an occupied cell
    assert torch.all(step[~valid] == 0)
    # front: the first occupied of a lattice anchored where each ray enters the box (the same depths on neighbours)
    points, step, valid, depth = sample_along_rays(
        near, far, hit, torch.zeros(3), torch.ones(3), origins, directions, grid, 16, 4, jitter=False, front=True
    )
    lattice = near[:, None] + (torch.arange(16) + 0.5) * ((far - near) / 16)[:, None]  # [R, 16]
    on_lattice = origins[:, None, :] + directions[:, None, :] * lattice[..., None]  # [R, 16, 3]
    occupied = grid.lookup(on_lattice.reshape(-1, 3)).reshape(R, 16)
    for ray in range(R):
        expected = lattice[ray][occupied[ray]][:4]
        torch.testing.assert_close(depth[ray][valid[ray]], expected)
        torch.testing.assert_close(step[ray][valid[ray]], ((far - near) / 16)[ray].expand(len(expected)))
    warm = OccupancyGrid(resolution=8)
    points, step, valid, depth = sample_along_rays(
        near, far, hit, torch.zeros(3), torch.ones(3), origins, directions, warm, 64, 8, jitter=False
    )
    assert (
        bool(valid.all()) and torch.all(depth >= near[:, None]) and torch.all(depth <= far[:, None])
    )  # warm-up: stratified over the box


def test_field_shapes() -> None:
    head = HeadField(make_encoding("hash3d", backend="torch", **GRID), code_dim=8)
    sigma, rgb = head(torch.rand(20, 3), torch.randn(20, 8))
    assert sigma.shape == (20,) and rgb.shape == (20, 3) and bool((sigma >= 0).all())
    tri = HeadField(make_encoding("triplane", backend="torch", **GRID), code_dim=8)
    assert tri(torch.rand(5, 3), torch.randn(5, 8))[1].shape == (5, 3)
    torso = TorsoField(make_encoding("hash2d", backend="torch", **GRID), cond_dim=11)
    colour, alpha = torso(torch.rand(7, 2), torch.randn(7, 11))
    assert colour.shape == (7, 3) and alpha.shape == (7,)


@pytest.mark.parametrize("kind", ["hash3d", "triplane"])
def test_level_weights_scale_each_levels_features(kind: str) -> None:
    head = HeadField(make_encoding(kind, backend="torch", seed=0, **GRID), code_dim=8)
    grids = getattr(head.encoding, "planes", [head.encoding])
    with torch.no_grad():
        for grid in grids:
            grid.params.copy_(torch.randn_like(grid.params))
    x, code = torch.rand(50, 3), torch.randn(50, 8)
    head.set_level_weights(torch.tensor([1.0, 1.0, 0.0, 0.0]))
    faded = head.density_and_geo(x, code)
    with torch.no_grad():  # the same field with its two finest levels' tables zeroed
        for grid in grids:
            start = grid.layout.offsets[2] * grid.layout.features_per_level
            grid.params[start:] = 0.0
    head.set_level_weights(None)
    for a, b in zip(faded, head.density_and_geo(x, code)):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="3 level weights for a grid of 4 levels"):
        head.set_level_weights(torch.ones(3))


def test_a_pose_times_the_mirror_sees_along_the_reflected_rays() -> None:
    from scipy.spatial.transform import Rotation

    from avatarlab.data.symmetry import face_mirror
    from tests.helpers.symmetric_face import symmetric_face

    shape = symmetric_face(np.random.default_rng(0))[0] @ Rotation.from_euler("y", 20, degrees=True).as_matrix().T
    mirror = face_mirror(shape)
    pose = torch.eye(4)[None]  # device: cpu
    pose[0, :3, :3] = torch.from_numpy(Rotation.from_euler("xyz", [5, -15, 2], degrees=True).as_matrix()).float()
    pose[0, :3, 3] = torch.tensor([0.1, -0.2, 12.0])  # device: cpu
    camera = {"fx": 300.0, "fy": 300.0, "cx": 64.0, "cy": 64.0}
    uv = torch.rand(1, 40, 2) * 128  # device: cpu
    origins, directions = camera_rays(pose, camera, uv)
    m_origins, m_directions = camera_rays(pose @ torch.from_numpy(mirror.matrix()), camera, uv)
    reflected = torch.from_numpy(mirror.reflect(origins[0].double().numpy()))
    torch.testing.assert_close(m_origins[0].double(), reflected, atol=1e-4, rtol=0)
    linear = torch.from_numpy(mirror.matrix()[:3, :3]).double()  # directions reflect without the shift
    torch.testing.assert_close(m_directions[0].double(), directions[0].double() @ linear.T, atol=1e-5, rtol=0)


def test_render_shapes(model: AvatarModel) -> None:
    B, R = 2, 30
    pose = model.pose_track[:B]
    cond = model.frame_condition(pose, model.crop_track[:B])
    code = model.code(normalised_keypoints=torch.zeros(B, model.spec.num_keypoints, 3))
    out = model.render_rays(pose, cond, code, torch.rand(B, R, 2) * model.spec.size)
    assert out["rgb"].shape == (B, R, 3) and out["head_alpha"].shape == (B, R)
    frame = model.render_frame(pose[0], cond[0], code[0])
    assert frame.shape == (model.spec.size, model.spec.size, 3)
    assert float(frame.min()) >= 0 and float(frame.max()) <= 1


def test_empty_space_renders_the_background(model: AvatarModel) -> None:
    with torch.no_grad():
        model.torso.head[-1].bias[3] = -40.0  # torso layer fully transparent
        model.head.density_bias = -40.0  # no density anywhere in the head box
    size = model.spec.size
    pose = model.pose_track[:1]
    cond = model.frame_condition(pose, model.crop_track[:1])
    code = model.code(normalised_keypoints=torch.zeros(1, model.spec.num_keypoints, 3))
    uv = torch.tensor(
        [[[0.5, 0.5], [size / 2 + 0.5, size / 2 + 0.5]]]
    )  # a corner (misses the box) and the centre (crosses it)
    out = model.render_rays(pose, cond, code, uv)
    expected = torch.stack([model.background[0, 0], model.background[size // 2, size // 2]])
    torch.testing.assert_close(out["rgb"][0], expected, atol=1e-6, rtol=0)
    frame = model.render_frame(pose[0], cond[0], code[0])
    torch.testing.assert_close(frame, model.background, atol=1e-6, rtol=0)


class RingedBall(torch.nn.Module):
    """An analytic head: a solid ball (unit-box radius 0.35) whose colour changes with depth in rings, so a
    renderer that lands its samples at different depths on neighbouring rays draws a speckle. Counts the points
    it is asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.points = 0

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.points += len(x)
        r = (x - 0.5).norm(dim=-1)
        sigma = torch.where(r < 0.35, 300.0, 0.0)
        return sigma, 0.5 + 0.4 * torch.sin(60 * r)[:, None] * torch.tensor([1.0, -0.5, 0.3])

    def density(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return self.forward(x, code)[0]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_the_fast_path_draws_the_training_like_reference_when_it_takes_the_same_samples(
    model: AvatarModel, placement: str
) -> None:
    model.placement = placement
    ball = RingedBall()
    model.head = ball
    with torch.no_grad():
        model.torso.head[-1].bias[3] = -40.0  # torso layer fully transparent
    code = model.code(normalised_keypoints=torch.zeros(1, model.spec.num_keypoints, 3))[0]
    model.update_occupancy(code[None])
    pose = model.pose_track[0]
    cond = model.frame_condition(pose[None], model.crop_track[:1])[0]
    model.train_samples = model.render_samples = 8
    model.first_round = 4
    reference = model.render_reference_frame(pose, cond, code)  # every pixel, 8 samples, no early termination
    ball.points = 0
    fast = model.render_frame(pose, cond, code)
    assert float(psnr(fast, reference)) > 40  # early termination skips only what is hidden
    fast_points, ball.points = ball.points, 0
    model.render_reference_frame(pose, cond, code)
    assert fast_points < (0.8 if placement == "spread" else 0.95) * ball.points  # ... and saves work
    if placement == "spread":
        model.train_samples = 16  # a model trained on 16 samples and rendered with 8: its surface is missed
        assert float(psnr(fast, model.render_reference_frame(pose, cond, code))) < 30


def test_an_unknown_sample_placement_is_refused(tiny_subject: Path) -> None:
    dm = from_config("data/avatar_subject.yaml", subject_dir=str(tiny_subject))
    dm.setup()
    info = dm.subject_info()
    args = config_args("model/avatar_field.yaml", "model", encoding=GRID, torso_encoding=GRID, backend="torch")
    with pytest.raises(ValueError, match="placement must be one of"):
        AvatarModel(info["spec"], len(info["poses"]), device="cpu", **{**args, "placement": "middle"})


def model_args() -> dict:
    return config_args("model/avatar_field.yaml", "model", encoding=GRID, torso_encoding=GRID, backend="torch")


@pytest.mark.parametrize("sigma", [0.3, 0.5, 0.8])
def test_the_pixel_filter_is_a_gaussian_over_each_pixels_footprint(sigma: float) -> None:
    image = np.random.default_rng(0).random((12, 9, 3))
    reference = cv2.GaussianBlur(image, (5, 5), sigma, borderType=cv2.BORDER_REPLICATE)  # float64, OpenCV's own
    np.testing.assert_allclose(pixel_filter(torch.from_numpy(image), sigma).numpy(), reference, atol=1e-12)
    flat = torch.full((6, 6, 3), 0.25)
    assert torch.equal(pixel_filter(flat, 0.0), flat) and torch.allclose(pixel_filter(flat, sigma), flat)
    rough = torch.from_numpy(image)
    assert pixel_filter(rough, sigma).std() < rough.std()  # a pixel's speckle is spread over its footprint


def test_both_render_paths_filter_each_pixel(model: AvatarModel) -> None:
    code = model.code(normalised_keypoints=torch.zeros(1, model.spec.num_keypoints, 3))[0]
    pose = model.pose_track[0]
    cond = model.frame_condition(pose[None], model.crop_track[:1])[0]
    plain = model.render_frame(pose, cond, code), model.render_reference_frame(pose, cond, code)
    model.pixel_sigma = 0.6
    filtered = model.render_frame(pose, cond, code), model.render_reference_frame(pose, cond, code)
    for before, after in zip(plain, filtered):
        torch.testing.assert_close(after, pixel_filter(before, 0.6).clamp(0.0, 1.0))
    with pytest.raises(ValueError, match="pixel_sigma"):
        AvatarModel(model.spec, 1, device="cpu", **{**model_args(), "pixel_sigma": -1.0})
