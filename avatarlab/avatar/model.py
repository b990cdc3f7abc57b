"""AvatarModel: keypoint (or audio) code -> head field over a back layer (torso, plate corrections) -> frame.

Everything the runtime needs is in this module's parameters and buffers (background plate, keypoint
statistics, head box, a pose track to play back), so a state dict plus an AvatarSpec rebuilds it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from avatarlab.avatar.audio2kp import Audio2Keypoints, AudioEncoder
from avatarlab.avatar.encodings import make_encoding, resolve_backend
from avatarlab.avatar.fields import HeadField, KeypointCode, TorsoField
from avatarlab.avatar.occupancy import OccupancyGrid, sample_along_rays
from avatarlab.avatar.rays import box_pixel_rect, camera_rays, intersect_box, pixel_grid
from avatarlab.avatar.rendering import composite, distortion, pixel_filter, ray_weights, volume_render
from avatarlab.spec.avatar import AvatarSpec

CONDITIONS = ("keypoints", "audio")
# Where a ray's samples go among its occupied candidates, in training and in rendering alike (a model renders
# well only with the placement it was trained with): "spread" takes every k-th of the `candidates` over the whole
# ray (k grows with how many are occupied, so neighbouring rays can sample at other depths); "front" takes the first
# occupied ones of `front_candidates` evenly spaced from where the ray enters the head box (the same depths on
# neighbouring rays; the visible surface comes first and early termination saves the rest).
PLACEMENTS = ("spread", "front")
LEGACY_ARGS = {  # what checkpoints and bundles made before them meant
    "chunk_rays": 16384,
    "placement": "spread",
    "front_candidates": 64,
    "pixel_sigma": 0.0,
}
FRAME_COND_DIM = 11

log = logging.getLogger(__name__)


class AvatarModel(nn.Module):
    """The avatar, built on `device` (where it will run; it also resolves `backend: auto` for the hash grids)."""

    def __init__(
        self,
        spec: AvatarSpec,
        track_frames: int,
        device: torch.device | str,
        *,
        condition: str,
        encoding: Mapping[str, Any],
        torso_encoding: Mapping[str, Any],
        code_dim: int,
        hidden: int,
        geo_dim: int,
        torso_hidden: int,
        deform_hidden: int,
        max_deform: float,
        occupancy_resolution: int,
        occupancy_threshold: float,
        candidates: int,
        train_samples: int,
        render_samples: int,
        placement: str,
        front_candidates: int,
        audio_past: int,
        audio_future: int,
        audio_channels: int,
        backend: str,
        chunk_rays: int,
        pixel_sigma: float,
    ) -> None:
        super().__init__()
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, not {condition!r}")
        self.spec = spec
        self.condition = condition
        self.candidates, self.train_samples, self.render_samples = candidates, train_samples, render_samples
        self.chunk_rays = chunk_rays
        if pixel_sigma < 0:
            raise ValueError(f"pixel_sigma must be >= 0, not {pixel_sigma}")
        self.pixel_sigma = pixel_sigma
        self.termination = 1e-2  # transmittance below which a ray stops (render_frame)
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, not {placement!r}")
        self.placement = placement
        if placement == "front" and front_candidates < max(train_samples, render_samples):
            raise ValueError(
                f"front_candidates ({front_candidates}) must be at least the samples per ray"
                f" ({max(train_samples, render_samples)})"
            )
        self.front_candidates = front_candidates
        self.first_round = max(1, render_samples // 2)  # render_frame: samples per ray before early termination
        chosen = resolve_backend(backend, device)
        log.info("hash-grid backend: %s (backend=%s, device=%s)", chosen, backend, device)
        encoding = dict(encoding)
        kind = encoding.pop("kind")
        self.head = HeadField(
            make_encoding(kind, backend=chosen, device=device, **encoding),
            code_dim=code_dim,
            hidden=hidden,
            geo_dim=geo_dim,
            deform_hidden=deform_hidden,
            max_deform=max_deform,
        )
        torso_grid = dict(torso_encoding)
        self.torso = TorsoField(
            make_encoding("hash2d", backend=chosen, device=device, **torso_grid),
            cond_dim=FRAME_COND_DIM,
            hidden=torso_hidden,
        )
        self.occupancy = OccupancyGrid(occupancy_resolution, threshold=occupancy_threshold)
        K = spec.num_keypoints
        self.keypoint_code = KeypointCode(K, code_dim)
        self.audio2kp = Audio2Keypoints(spec.n_mels, K, audio_past, audio_future, spec.mel_per_frame, audio_channels)
        window = (audio_past + audio_future + 1) * spec.mel_per_frame
        self.audio_code = AudioEncoder(spec.n_mels, window, code_dim, audio_channels) if condition == "audio" else None
        S = spec.size
        self.register_buffer("background", torch.zeros(S, S, 3))  # float in [0, 1]
        self.register_buffer("box_min", torch.tensor(spec.box_min, dtype=torch.float32))
        self.register_buffer("box_max", torch.tensor(spec.box_max, dtype=torch.float32))
        self.register_buffer("kp_mean", torch.zeros(K, 3))
        self.register_buffer("kp_scale", torch.ones(()))
        self.register_buffer("cond_mean", torch.zeros(FRAME_COND_DIM))
        self.register_buffer("cond_std", torch.ones(FRAME_COND_DIM))
        self.register_buffer("pose_track", torch.eye(4).repeat(track_frames, 1, 1))  # [T, 4, 4] poses to play back
        self.register_buffer("crop_track", torch.zeros(track_frames, 3))
        self.register_buffer("source_min", torch.zeros(2))  # the source-video area the crops cover (pixels)
        self.register_buffer("source_span", torch.ones(2))
        self.register_buffer("crop_side", torch.ones(()))
        self.to(device)

    # -- subject statistics ---------------------------------------------------------------------
    @torch.no_grad()
    def set_subject(
        self,
        background: np.ndarray,
        keypoints: np.ndarray,
        frame_conds: np.ndarray,
        mel: np.ndarray,
        poses: np.ndarray,
        crops: np.ndarray,
    ) -> None:
        """Fill the buffers from training data: plate uint8 [S, S, 3], keypoints [T, K, 3],
        frame conditions [T, 11], mel [rows, n_mels]."""
        self.background.copy_(torch.from_numpy(background.astype(np.float32) / 255.0))
        mean = keypoints.mean(0)
        self.kp_mean.copy_(torch.from_numpy(mean))
        self.kp_scale.fill_(
            float(max(np.std(keypoints - mean), 1e-6))
        )  # one scale: per-coordinate z-scores amplify tracking noise
        self.cond_mean.copy_(torch.from_numpy(frame_conds.mean(0)))
        self.cond_std.copy_(torch.from_numpy(np.maximum(frame_conds.std(0), 1e-4)))
        for encoder in [self.audio2kp.encoder] + ([self.audio_code] if self.audio_code is not None else []):
            encoder.mel_mean.copy_(torch.from_numpy(mel.mean(0)))
            encoder.mel_std.copy_(torch.from_numpy(np.maximum(mel.std(0), 1e-3)))
        self.pose_track.copy_(torch.from_numpy(poses))
        self.crop_track.copy_(torch.from_numpy(crops))
        side = float(np.median(crops[:, 2]))
        low, high = crops[:, :2].min(0) - side / 2, crops[:, :2].max(0) + side / 2
        self.crop_side.fill_(side)
        self.source_min.copy_(torch.from_numpy(low.astype(np.float32)))
        self.source_span.copy_(torch.from_numpy(np.maximum(high - low, 1.0).astype(np.float32)))

    def source_unit(self, uv: torch.Tensor, frame_cond: torch.Tensor) -> torch.Tensor:
        """Pixel positions uv [B, R, 2] of crops -> unit positions [B, R, 2] in the source video (where the
        torso and background stay put while the crop follows the face); frame_cond [B, 11] normalised."""
        centre = frame_cond[:, -2:] * self.cond_std[-2:] + self.cond_mean[-2:]  # [B, 2] crop centre, source pixels
        source = centre[:, None, :] + (uv / self.spec.size - 0.5) * self.crop_side
        return ((source - self.source_min) / self.source_span).clamp(0.0, 1.0)

    # -- conditions -----------------------------------------------------------------------------
    def normalise_keypoints(self, keypoints: torch.Tensor) -> torch.Tensor:
        return (keypoints - self.kp_mean) / self.kp_scale

    def denormalise_keypoints(self, normalised: torch.Tensor) -> torch.Tensor:
        return normalised * self.kp_scale + self.kp_mean

    def code(
        self, normalised_keypoints: torch.Tensor | None = None, mel_window: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[B, code_dim] from normalised keypoints [B, K, 3] (or, for condition=audio, mel windows [B, W, n_mels])."""
        if self.condition == "audio":
            if mel_window is None:
                raise ValueError("an audio-conditioned avatar needs mel windows")
            return self.audio_code(mel_window)
        if normalised_keypoints is None:
            raise ValueError("a keypoint-conditioned avatar needs keypoints")
        return self.keypoint_code(normalised_keypoints)

    def normalise_condition(self, raw: torch.Tensor) -> torch.Tensor:
        """[B, 11] raw frame conditions (avatarlab.avatar.spec.frame_conditions) -> normalised."""
        return (raw - self.cond_mean) / self.cond_std

    def frame_condition(self, pose: torch.Tensor, crop: torch.Tensor) -> torch.Tensor:
        """[B, 11] normalised torso condition from poses [B, 4, 4] and crops [B, 3]."""
        raw = torch.cat([pose[:, :3, :2].reshape(-1, 6), pose[:, :3, 3], crop[:, :2]], dim=-1)
        return self.normalise_condition(raw)

    def predict_keypoints(self, mel_window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised keypoints [B, K, 3] and blink [B] from mel windows [B, W, n_mels]."""
        return self.audio2kp(mel_window)

    # -- rendering ------------------------------------------------------------------------------
    def to_unit(self, points: torch.Tensor) -> torch.Tensor:
        return ((points - self.box_min) / (self.box_max - self.box_min)).clamp(0.0, 1.0)

    def render_rays(
        self,
        pose: torch.Tensor,
        frame_cond: torch.Tensor,
        code: torch.Tensor,
        uv: torch.Tensor,
        jitter: bool = False,
        samples: int | None = None,
        with_distortion: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Render rays uv [B, R, 2] of B frames: pose [B, 4, 4], frame_cond [B, 11], code [B, C].

        Returns rgb [B, R, 3] (final composite), head_rgb/head_alpha/head_depth, torso_rgb/torso_alpha, background,
        and with `with_distortion` head_distortion (how spread along the ray the head's weight is,
        rendering.distortion).
        """
        B, R, _ = uv.shape
        cam = self.spec.camera
        origins, directions = camera_rays(pose, cam, uv)  # [B, R, 3]
        near, far, hit = intersect_box(origins, directions, self.box_min, self.box_max)  # [B, R]
        S = samples or (self.train_samples if self.training else self.render_samples)
        flat = lambda t: t.reshape(B * R, *t.shape[2:])  # noqa: E731
        points, step, valid, depth = self.samples(
            flat(near), flat(far), flat(hit), flat(origins), flat(directions), S, jitter
        )  # [B*R, S, ...]
        sigma = torch.zeros(B * R, S, device=points.device)
        rgb = torch.zeros(B * R, S, 3, device=points.device)
        if bool(valid.any()):
            codes = code[:, None, None, :].expand(B, R, S, code.shape[-1]).reshape(B * R, S, -1)  # [B*R, S, C]
            s, c = self.head(points[valid], codes[valid])
            sigma = sigma.index_put((valid,), s)
            rgb = rgb.index_put((valid,), c)
        head_rgb, head_alpha, head_depth = volume_render(sigma, rgb, step, depth)  # [B*R, 3], [B*R]
        size = self.spec.size
        uv_unit = self.source_unit(uv, frame_cond).reshape(B * R, 2)
        conds = frame_cond[:, None, :].expand(B, R, frame_cond.shape[-1]).reshape(B * R, -1)
        torso_rgb, torso_alpha = self.torso(uv_unit, conds)
        pix = uv.long().clamp(0, size - 1).reshape(B * R, 2)
        background = self.background[pix[:, 1], pix[:, 0]]  # [B*R, 3]
        final = composite(head_rgb, head_alpha, torso_rgb, torso_alpha, background)
        out = {
            "rgb": final,
            "head_rgb": head_rgb,
            "head_alpha": head_alpha,
            "head_depth": head_depth,
            "torso_rgb": torso_rgb,
            "torso_alpha": torso_alpha,
            "background": background,
        }
        if with_distortion:
            out["head_distortion"] = distortion(ray_weights(sigma, step), depth, step, flat(near), flat(far))  # [B*R]
        return {k: v.reshape(B, R, *v.shape[1:]) for k, v in out.items()}

    @torch.no_grad()
    def render_frame(self, pose: torch.Tensor, frame_cond: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """One full frame [S, S, 3] in [0, 1] for pose [4, 4], frame_cond [11], code [C].

        Only the pixels whose rays can meet the head box are traced; the rest is torso over plate. Each pixel is then
        averaged over its footprint (`pixel_sigma`, rendering.pixel_filter).
        """
        size = self.spec.size
        x0, y0, x1, y1 = box_pixel_rect(pose, self.spec.camera, self.box_min, self.box_max, size)
        all_uv = pixel_grid(0, 0, size, size, code.device)  # [S*S, 2]
        torso_rgb, torso_alpha = self.torso(
            self.source_unit(all_uv[None], frame_cond[None])[0], frame_cond[None].expand(len(all_uv), -1)
        )
        image = (
            torso_alpha[:, None] * torso_rgb + (1.0 - torso_alpha[:, None]) * self.background.reshape(-1, 3)
        ).reshape(size, size, 3)
        if x1 > x0 and y1 > y0:
            uv = pixel_grid(x0, y0, x1, y1, code.device)  # [R, 2]
            head_rgb, head_alpha = [], []
            for i in range(0, len(uv), self.chunk_rays):
                part = self._head_only(pose, code, uv[i : i + self.chunk_rays])
                head_rgb.append(part[0])
                head_alpha.append(part[1])
            rgb = torch.cat(head_rgb).reshape(y1 - y0, x1 - x0, 3)
            alpha = torch.cat(head_alpha).reshape(y1 - y0, x1 - x0, 1)
            image[y0:y1, x0:x1] = rgb + (1.0 - alpha) * image[y0:y1, x0:x1]
        return pixel_filter(image, self.pixel_sigma).clamp(0.0, 1.0)

    @torch.no_grad()
    def render_reference_frame(self, pose: torch.Tensor, frame_cond: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """One full frame [S, S, 3] in [0, 1] traced as in training: every pixel, `train_samples` per ray spread over
        the occupied candidates, no early termination (no jitter: the same frame every time), pixels averaged over
        their footprint as render_frame's are. The slow, obvious reference the fast path (render_frame) is measured
        against."""
        size = self.spec.size
        uv = pixel_grid(0, 0, size, size, code.device)  # [S*S, 2]
        parts = [
            self.render_rays(pose[None], frame_cond[None], code[None], uv[None, i : i + self.chunk_rays],
                             samples=self.train_samples)["rgb"][0]
            for i in range(0, len(uv), self.chunk_rays)
        ]  # fmt: skip
        return pixel_filter(torch.cat(parts).reshape(size, size, 3), self.pixel_sigma).clamp(0.0, 1.0)

    def samples(
        self,
        near: torch.Tensor,
        far: torch.Tensor,
        hit: torch.Tensor,
        origins: torch.Tensor,
        directions: torch.Tensor,
        count: int,
        jitter: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """`count` samples per ray by the model's placement (occupancy.sample_along_rays; inputs flat [R], [R, 3])."""
        front = self.placement == "front"
        return sample_along_rays(
            near,
            far,
            hit,
            self.box_min,
            self.box_max,
            origins,
            directions,
            self.occupancy,
            self.front_candidates if front else self.candidates,
            count,
            jitter,
            front=front,
        )

    def _head_only(self, pose: torch.Tensor, code: torch.Tensor, uv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Premultiplied head colour [R, 3] and opacity [R] for pixels uv [R, 2].

        Two rounds, each ray's first `first_round` samples first: rays already opaque (transmittance
        below `termination`) skip the rest (early ray termination, batched).
        """
        origins, directions = camera_rays(pose[None], self.spec.camera, uv[None])
        origins, directions = origins[0], directions[0]  # [R, 3]
        near, far, hit = intersect_box(origins, directions, self.box_min, self.box_max)
        points, step, valid, depth = self.samples(near, far, hit, origins, directions, self.render_samples, False)
        sigma = torch.zeros(valid.shape, device=points.device)
        rgb = torch.zeros(*valid.shape, 3, device=points.device)
        half = max(1, min(self.first_round, valid.shape[1]))
        front = valid.clone()
        front[:, half:] = False
        sigma, rgb = self._evaluate(points, code, front, sigma, rgb)
        transmittance = torch.exp(-(sigma[:, :half] * step[:, :half]).sum(1))  # [R]
        back = valid & (transmittance > self.termination)[:, None]
        back[:, :half] = False
        sigma, rgb = self._evaluate(points, code, back, sigma, rgb)
        head_rgb, head_alpha, _ = volume_render(sigma, rgb, step, depth)
        return head_rgb, head_alpha

    def _evaluate(
        self, points: torch.Tensor, code: torch.Tensor, mask: torch.Tensor, sigma: torch.Tensor, rgb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fill sigma [R, S] and rgb [R, S, 3] at mask [R, S] from the head field (one code [C])."""
        if not bool(mask.any()):
            return sigma, rgb
        pts = points[mask]
        s, c = self.head(pts, code[None].expand(len(pts), -1))
        return sigma.index_put((mask,), s), rgb.index_put((mask,), c)

    @property
    def candidate_step(self) -> float:
        """Length of one candidate interval along the box diagonal (the occupancy threshold's step)."""
        return float((self.box_max - self.box_min).norm()) / self.candidates

    @torch.no_grad()
    def set_occupancy_threshold(self, threshold: float) -> None:
        """Re-derive the occupied cells with another opacity threshold (higher: fewer samples, faster)."""
        self.occupancy.refresh(self.candidate_step, threshold)

    @torch.no_grad()
    def update_occupancy(self, codes: torch.Tensor) -> None:
        """Refresh the occupancy grid with the max density over codes [n, C]."""
        step = self.candidate_step

        def density(x: torch.Tensor) -> torch.Tensor:
            return torch.stack([self.head.density(x, c[None].expand(len(x), -1)) for c in codes]).amax(0)

        self.occupancy.update(density, step)
