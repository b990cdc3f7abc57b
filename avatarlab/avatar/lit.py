"""The avatar's LightningModule: field, torso layer and audio2kp, trained in stages or all at once.

Stages (chosen by the experiment config): the field with tracked keypoints (`train_field`); audio2kp
(`train_audio2kp`); and from `joint_from_step` on, a joint fine-tune in which a fraction of the
field's frames take audio2kp's predicted keypoints (gradients reach audio2kp through the field).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from avatarlab.atomic import atomic_path
from avatarlab.avatar.audio2kp import audio2kp_losses, mel_windows
from avatarlab.avatar.encodings import level_mean_squares
from avatarlab.avatar.model import LEGACY_ARGS, AvatarModel
from avatarlab.config_args import constructor_args
from avatarlab.data.media import write_video
from avatarlab.data.subject import MASK_FACE, MASK_MOUTH, MASK_PERSON
from avatarlab.data.symmetry import face_mirror
from avatarlab.errors import UserInputError
from avatarlab.metrics.image import psnr
from avatarlab.spec.avatar import AvatarSpec

log = logging.getLogger(__name__)

MODEL_BUILD_ARGS = ("spec", "track_frames", "device")  # AvatarModel's arguments that come with the subject


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint, loaded with weights_only (tensors and plain Python values only)."""
    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file fails in many ways inside torch.load
        raise UserInputError(
            f"checkpoint {path} cannot be read ({type(error).__name__})",
            "train again, or pass a run whose checkpoints are intact",
        ) from error
    if not isinstance(checkpoint, dict) or "avatar_spec" not in checkpoint:
        raise UserInputError(
            f"checkpoint {path} holds no avatar", "pass the run directory of an avatar experiment (experiment=avatar_*)"
        )
    return checkpoint


def model_from_checkpoint(checkpoint: dict[str, Any], device: torch.device | str) -> AvatarModel:
    """Rebuild the AvatarModel stored by AvatarLitModule.on_save_checkpoint on `device` and load its weights."""
    spec = AvatarSpec.from_dict(checkpoint["avatar_spec"])
    args = {**LEGACY_ARGS, **checkpoint["avatar_model_args"]}
    model = AvatarModel(spec, checkpoint["avatar_track_frames"], device, **args)
    prefix = "model."
    model.load_state_dict({k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)})
    return model.eval()


def coarse_to_fine(step: int, num_levels: int, coarse_levels: int, ramp_steps: int) -> torch.Tensor | None:
    """Weights [L] of the grid levels at `step`: the first `coarse_levels` in full from the start, the finer ones
    faded in one after another (a cosine ramp each, as BARF) until all are in at `ramp_steps`; None from then on
    (and always, with ramp_steps 0)."""
    if ramp_steps <= 0 or step >= ramp_steps:
        return None
    progress = coarse_levels + (num_levels - coarse_levels) * step / ramp_steps  # levels in so far (fractional)
    level = torch.arange(num_levels, dtype=torch.float32)  # device: cpu (the field moves its weights)
    alpha = (progress - level).clamp(0.0, 1.0)
    return (1.0 - torch.cos(torch.pi * alpha)) / 2.0


class AvatarLitModule(L.LightningModule):
    """Trains an AvatarModel; its arguments (`model`, configs/model/avatar_field.yaml) are checked here and
    the model is built in setup(), once the subject is known."""

    def __init__(
        self,
        model: Mapping[str, Any],
        train_field: bool,
        train_audio2kp: bool,
        joint_from_step: int | None,
        predicted_fraction: float,
        lr_grid: float,
        lr_mlp: float,
        lr_audio: float,
        lr_final_factor: float,
        mask_weight: float,
        distortion_weight: float,
        depth_weight: float,
        grid_decay_weight: float,
        coarse_levels: int,
        coarse_to_fine_steps: int,
        mirror_fraction: float,
        code_swap_weight: float,
        a2kp_weight: float,
        a2kp_loss_weights: Mapping[str, float],
        occupancy_warmup: int,
        occupancy_every: int,
        occupancy_codes: int,
        video_every: int,
        video_frames: int,
        init_from: str | None,
    ) -> None:
        super().__init__()
        self.model_args = constructor_args(model, AvatarModel, MODEL_BUILD_ARGS, label="model.model")
        model = self.model_args  # the hyperparameters hold the plain arguments, as checkpoints do
        self.save_hyperparameters()
        self.model: AvatarModel | None = None
        self.a2kp_loss_weights = dict(a2kp_loss_weights)
        self._last_video_step = -1
        self.mirror_pose: torch.Tensor | None = None  # [4, 4] the face's reflection (training with mirrored views)
        self.mirror_keypoints: torch.Tensor | None = None  # [K] each keypoint's mirror image among the keypoints

    # -- building -----------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if self.model is not None:
            return
        info = self.trainer.datamodule.subject_info()
        self.build(info, self.trainer.strategy.root_device)

    def build(self, info: dict[str, Any], device: torch.device | str) -> None:
        """Create the AvatarModel for a subject (spec and training arrays from the DataModule) on `device`."""
        self.model = AvatarModel(info["spec"], len(info["poses"]), device, **self.model_args)
        levels = self.model.head.num_levels
        if self.hparams.coarse_to_fine_steps < 0 or not 1 <= self.hparams.coarse_levels <= levels:
            raise UserInputError(
                f"model.coarse_to_fine_steps={self.hparams.coarse_to_fine_steps}, "
                f"model.coarse_levels={self.hparams.coarse_levels}: out of range",
                f"set model.coarse_to_fine_steps to 0 or more, model.coarse_levels from 1 to the head grid's {levels}",
            )
        if self.hparams.code_swap_weight > 0 and self.model.condition != "keypoints":
            raise UserInputError(
                f"model.code_swap_weight={self.hparams.code_swap_weight} on an avatar conditioned on "
                f"{self.model.condition}: it swaps keypoint expressions between frames",
                "set model.code_swap_weight=0, or condition the avatar on keypoints",
            )
        self.model.set_subject(
            info["background"], info["keypoints"], info["frame_conds"], info["mel"], info["poses"], info["crops"]
        )
        if not 0.0 <= self.hparams.mirror_fraction <= 1.0:
            raise UserInputError(
                f"model.mirror_fraction={self.hparams.mirror_fraction} is not a share", "set it from 0 to 1"
            )
        if self.hparams.mirror_fraction > 0:
            mirror = face_mirror(info["canonical"])
            self.mirror_pose = torch.from_numpy(mirror.matrix()).to(device)  # [4, 4]
            pairs = mirror.keypoint_pairs(info["keypoint_indices"], info["canonical"])  # [K]
            self.mirror_keypoints = torch.from_numpy(pairs).to(device)
        if self.hparams.init_from:
            source = model_from_checkpoint(load_checkpoint(self.hparams.init_from), "cpu")  # weights only
            missing, unexpected = self.model.load_state_dict(source.state_dict(), strict=False)
            log.info(
                "initialised from %s (missing %d, unexpected %d)", self.hparams.init_from, len(missing), len(unexpected)
            )

    def on_fit_start(self) -> None:
        max_steps = self.trainer.max_steps
        if self.hparams.coarse_to_fine_steps > 0 and 0 < max_steps <= self.hparams.coarse_to_fine_steps:
            raise UserInputError(
                f"model.coarse_to_fine_steps ({self.hparams.coarse_to_fine_steps}) does not end before the last step "
                f"(trainer.max_steps={max_steps}), but the saved model renders with every level in full",
                "set model.coarse_to_fine_steps below trainer.max_steps (or 0 to train every level from the start)",
            )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        assert self.model is not None
        checkpoint["avatar_spec"] = self.model.spec.to_dict()
        checkpoint["avatar_model_args"] = self.model_args
        checkpoint["avatar_track_frames"] = int(self.model.pose_track.shape[0])

    # -- optimisation ---------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        m = self.model
        assert m is not None
        hp = self.hparams
        groups = []
        if hp.train_field:
            grids = [m.head.encoding, m.torso.encoding]
            grid_params = [p for g in grids for p in g.parameters()]
            grid_ids = {id(p) for p in grid_params}
            mlps = [p for mod in (m.head, m.torso, m.keypoint_code) for p in mod.parameters() if id(p) not in grid_ids]
            groups += [
                {"params": grid_params, "lr": hp.lr_grid, "name": "grid"},
                {"params": mlps, "lr": hp.lr_mlp, "name": "mlp"},
            ]
            if m.audio_code is not None:
                groups.append({"params": list(m.audio_code.parameters()), "lr": hp.lr_audio, "name": "audio_code"})
        if hp.train_audio2kp or hp.joint_from_step is not None:
            groups.append({"params": list(m.audio2kp.parameters()), "lr": hp.lr_audio, "name": "audio2kp"})
        optimizer = torch.optim.Adam(groups, betas=(0.9, 0.99), eps=1e-15)
        total = max(1, int(self.trainer.max_steps) if self.trainer and self.trainer.max_steps > 0 else 1000)
        final = hp.lr_final_factor
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: final ** min(step / total, 1.0))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # -- training -------------------------------------------------------------------------------
    def joint(self) -> bool:
        step = self.hparams.joint_from_step
        return step is not None and self.global_step >= step

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        m = self.model
        assert m is not None
        hp = self.hparams
        logs: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=self.device)
        if hp.train_field or self.joint():
            total = total + self._field_loss(batch, logs)
        if hp.train_audio2kp:
            A, C = batch["a2kp_keypoints"].shape[:2]
            pred_kp, pred_blink = m.predict_keypoints(batch["a2kp_mel"].flatten(0, 1))  # [A*C, K, 3], [A*C]
            losses = audio2kp_losses(
                pred_kp.reshape(A, C, *pred_kp.shape[1:]),
                pred_blink.reshape(A, C),
                m.normalise_keypoints(batch["a2kp_keypoints"]),
                batch["a2kp_blink"],
                m.kp_mean,
                m.kp_scale,
                m.spec.mouth_indices,
                self.a2kp_loss_weights,
            )
            logs.update({f"train/a2kp_{k}": v.detach() for k, v in losses.items()})
            total = total + hp.a2kp_weight * losses["total"]
        logs["train/loss"] = total.detach()
        self.log_dict(logs, prog_bar=False, on_step=True, on_epoch=False)
        return total

    def _field_loss(self, batch: dict[str, torch.Tensor], logs: dict[str, torch.Tensor]) -> torch.Tensor:
        m = self.model
        assert m is not None
        hp = self.hparams
        step = self.global_step
        if m.condition == "keypoints":
            tracked = m.normalise_keypoints(batch["keypoints"])  # [B, K, 3]
            if self.joint():
                predicted, _ = m.predict_keypoints(batch["mel"])
                use = (torch.rand(tracked.shape[0], device=tracked.device) < hp.predicted_fraction)[:, None, None]
                tracked = torch.where(use, predicted, tracked)
            code = m.code(normalised_keypoints=tracked)
        else:
            code = m.code(mel_window=batch["mel"])
        m.head.set_level_weights(coarse_to_fine(step, m.head.num_levels, hp.coarse_levels, hp.coarse_to_fine_steps))
        if step >= hp.occupancy_warmup and (step - hp.occupancy_warmup) % hp.occupancy_every == 0:
            m.update_occupancy(code.detach()[: hp.occupancy_codes])
            logs["train/occupied"] = torch.tensor(m.occupancy.occupied_fraction, device=self.device)
        cond = m.normalise_condition(batch["cond"])
        out = m.render_rays(
            batch["pose"], cond, code, batch["uv"], jitter=True, with_distortion=hp.distortion_weight > 0
        )
        target = batch["rgb"]
        mse = nn.functional.mse_loss(out["rgb"], target)
        mask = batch["mask"]
        background = (mask & MASK_PERSON) == 0
        face = (mask & MASK_FACE) > 0
        # no head where the plate shows; the head (solid), not the back layer, paints the face
        head_alpha, back_alpha = out["head_alpha"], out["torso_alpha"]
        mask_loss = (background * head_alpha**2).mean() + (face * ((1.0 - head_alpha) ** 2 + back_alpha**2)).mean()
        logs.update(
            {
                "train/mse": mse.detach(),
                "train/psnr": psnr(out["rgb"].detach(), target),
                "train/mask": mask_loss.detach(),
            }
        )
        total = mse + hp.mask_weight * mask_loss
        if hp.distortion_weight > 0:  # a surface, not a cloud: each ray's weight gathered in one place
            spread = out["head_distortion"].mean()
            logs["train/distortion"] = spread.detach()
            total = total + hp.distortion_weight * spread
        if hp.depth_weight > 0:  # the head meets the rays through known face points where the canonical shape says
            if "surface_uv" not in batch:
                raise ValueError("depth_weight > 0 needs rays through face points: set data.depth_rays > 0")
            surface = m.render_rays(batch["pose"], cond, code, batch["surface_uv"], jitter=True)
            depth_error = (surface["head_depth"] - surface["head_alpha"] * batch["surface_depth"]).abs().mean()
            logs["train/depth_error"] = depth_error.detach()
            total = total + hp.depth_weight * depth_error
        if self.mirror_pose is not None and m.condition == "keypoints":
            mirror = self._mirror_loss(batch, tracked, cond, face)
            if mirror is not None:
                logs["train/mirror"] = mirror.detach()
                total = total + mirror
        if hp.code_swap_weight > 0 and m.condition == "keypoints":
            swap = self._code_swap_loss(batch, code, cond, face & ((mask & MASK_MOUTH) == 0))
            logs["train/code_swap"] = swap.detach()
            total = total + hp.code_swap_weight * swap
        if hp.grid_decay_weight > 0:  # grid features stay small unless the pictures need them
            decay = level_mean_squares(m.head.encoding)
            logs["train/grid_decay"] = decay.detach()
            total = total + hp.grid_decay_weight * decay
        return total

    def _code_swap_loss(
        self, batch: dict[str, torch.Tensor], code: torch.Tensor, cond: torch.Tensor, skin: torch.Tensor
    ) -> torch.Tensor:
        """Squared error of the skin rays (face, not mouth) [B, R] rendered with the next frame's code [B, C] against
        their own pixels: the skin looks the same under any expression, so no expression prints a pattern on it
        where a new view shows it."""
        rays = batch["uv"].shape[1] // 4  # a quarter of each frame's rays (drawn independently: any quarter will do)
        out = self.model.render_rays(batch["pose"], cond, code.roll(1, dims=0), batch["uv"][:, :rays], jitter=True)
        error = ((out["rgb"] - batch["rgb"][:, :rays]) ** 2).mean(-1)  # [B, R/4]
        skin = skin[:, :rays]
        return (error * skin).sum() / skin.sum().clamp_min(1)

    def _mirror_loss(
        self, batch: dict[str, torch.Tensor], keypoints: torch.Tensor, cond: torch.Tensor, face: torch.Tensor
    ) -> torch.Tensor | None:
        """The face rays of a share (`mirror_fraction`) of the batch's frames once more, seen as the face's mirror
        image: each ray reflected across the face's plane (pose @ reflection) and the expression mirrored (normalised
        keypoints [B, K, 3]), so the side of the face the video turns away from is learnt from the side it shows.
        Face rays only (`face` [B, R]): hair and clothes are not symmetric. Their colour error plus the face's
        opacity terms; None when no frame is drawn or no face ray is in the batch."""
        m = self.model
        assert m is not None and self.mirror_pose is not None and self.mirror_keypoints is not None
        chosen = torch.rand(len(keypoints), device=keypoints.device) < self.hparams.mirror_fraction  # [B]
        face = face[chosen]  # [b, R]
        count = int(face.sum(1).min()) if len(face) else 0
        if count == 0:
            return None
        first = torch.argsort((~face).to(torch.int8), dim=1, stable=True)[:, :count]  # [b, n]: face rays first
        uv = batch["uv"][chosen].gather(1, first[..., None].expand(-1, -1, 2))  # [b, n, 2]
        target = batch["rgb"][chosen].gather(1, first[..., None].expand(-1, -1, 3))  # [b, n, 3]
        raw = m.denormalise_keypoints(keypoints[chosen])[:, self.mirror_keypoints]  # [b, K, 3], twins swapped
        rotation, shift = self.mirror_pose[:3, :3], self.mirror_pose[:3, 3]
        code = m.code(normalised_keypoints=m.normalise_keypoints(raw @ rotation.T + shift))
        out = m.render_rays(batch["pose"][chosen] @ self.mirror_pose, cond[chosen], code, uv, jitter=True)
        opacity = ((1.0 - out["head_alpha"]) ** 2 + out["torso_alpha"] ** 2).mean()
        return nn.functional.mse_loss(out["rgb"], target) + self.hparams.mask_weight * opacity

    # -- validation -----------------------------------------------------------------------------
    def render_held_out(self, batch: dict[str, torch.Tensor], from_audio: bool) -> torch.Tensor:
        """[S, S, 3] render of one held-out frame, with tracked keypoints or from its audio."""
        m = self.model
        assert m is not None
        pose, cond = batch["pose"][0], m.normalise_condition(batch["cond"])[0]
        if m.condition == "audio":
            code = m.code(mel_window=batch["mel"])[0]
        elif from_audio:
            code = m.code(normalised_keypoints=m.predict_keypoints(batch["mel"])[0])[0]
        else:
            code = m.code(normalised_keypoints=m.normalise_keypoints(batch["keypoints"]))[0]
        return m.render_frame(pose, cond, code)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        real = batch["image"][0]
        tracked = self.render_held_out(batch, from_audio=False)
        audio = self.render_held_out(batch, from_audio=True)
        self.log("val/psnr", psnr(tracked, real), on_epoch=True, batch_size=1)
        self.log("val/psnr_audio", psnr(audio, real), on_epoch=True, batch_size=1)
        if batch_idx == 0:
            self._log_image(torch.cat([real, tracked, audio], dim=1))

    def _run_dir(self) -> Path:
        return Path(self.trainer.default_root_dir)

    def _log_image(self, image: torch.Tensor) -> None:
        array = (image.clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
        path = self._run_dir() / "images" / f"val_step{self.global_step:06d}.png"
        import cv2

        with atomic_path(path) as target:
            target.write_bytes(cv2.imencode(".png", cv2.cvtColor(array, cv2.COLOR_RGB2BGR))[1].tobytes())
        for logger in self.loggers:
            if hasattr(logger, "log_image"):
                logger.log_image("val/real_tracked_audio", [array], step=self.global_step)

    def on_validation_epoch_end(self) -> None:
        hp = self.hparams
        if (
            self.trainer.sanity_checking
            or hp.video_every <= 0
            or self.global_step - self._last_video_step < hp.video_every
            and self._last_video_step >= 0
        ):
            return
        self._last_video_step = self.global_step
        self._log_video()

    @torch.no_grad()
    def _log_video(self) -> None:
        """A short held-out clip: real | rendered from its audio, as mp4 in the run dir and to wandb."""

        m = self.model
        data = self.trainer.datamodule.data
        frames = data.val_frames[: self.hparams.video_frames]
        windows = torch.from_numpy(
            mel_windows(data.mel, frames, m.audio2kp.past, m.audio2kp.future, m.spec.mel_per_frame)
        ).to(self.device)
        conds = m.normalise_condition(torch.from_numpy(data.frame_conds[frames]).to(self.device))
        if m.condition == "audio":
            codes = m.code(mel_window=windows)
        else:
            codes = m.code(normalised_keypoints=m.predict_keypoints(windows)[0])
        poses = torch.from_numpy(data.pose[frames]).to(self.device)
        rendered = [m.render_frame(poses[i], conds[i], codes[i]) for i in range(len(frames))]
        video = [
            np.concatenate([data.frames[t], (r.cpu().numpy() * 255).round().astype(np.uint8)], axis=1)
            for t, r in zip(frames, rendered)
        ]
        path = self._run_dir() / "videos" / f"val_step{self.global_step:06d}.mp4"
        try:
            with atomic_path(path) as target:
                write_video(target, video, m.spec.fps)
        except Exception as error:  # a missing ffmpeg must not stop training
            log.warning("could not write %s: %s", path, error)
            return
        for logger in self.loggers:
            if logger.__class__.__name__ == "WandbLogger":
                import wandb

                logger.experiment.log({"val/video": wandb.Video(str(path), format="mp4")}, step=self.global_step)
