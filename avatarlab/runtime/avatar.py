"""The avatar at inference: an avatar bundle loaded without Lightning, driven by audio or keypoints.

`load_avatar_model` rebuilds the AvatarModel of a bundle; `Avatar` drives it from a whole recording
(mel track -> codes -> frames) or from keypoints; `avatarlab.runtime.streaming_avatar` drives it from
audio as it arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from avatarlab.avatar.audio2kp import mel_windows
from avatarlab.avatar.model import LEGACY_ARGS, AvatarModel
from avatarlab.data.audio_features import log_mel
from avatarlab.runtime.bundle import REEXPORT, BundleError, read_bundle
from avatarlab.spec.avatar import AvatarSpec
from avatarlab.spec.stream import AUDIO_RATE

AVATAR_BUNDLE_KIND = "avatar"


def load_avatar_model(path: str | Path, device: str | torch.device = "cpu") -> AvatarModel:
    """The AvatarModel of an avatar bundle (validated: version, kind, hashes, shapes), in eval mode on `device`."""
    bundle = read_bundle(path, kind=AVATAR_BUNDLE_KIND)
    config = bundle.config
    try:
        spec = AvatarSpec.from_dict(config["spec"])
        args = {**LEGACY_ARGS, **config["model_args"]}
        model = AvatarModel(spec, int(config["track_frames"]), **args, device=str(device))
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{path}: the manifest's avatar config is not usable ({error})", REEXPORT) from error
    expected = model.state_dict()
    missing = sorted(set(expected) - set(bundle.tensors))
    unexpected = sorted(set(bundle.tensors) - set(expected))
    if missing or unexpected:
        raise BundleError(
            f"{path}: weights do not fit the avatar (missing {missing[:5]}, unexpected {unexpected[:5]})", REEXPORT
        )
    for name, tensor in bundle.tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise BundleError(
                f"{path}: tensor {name} has shape {tuple(tensor.shape)},"
                f" the avatar needs {tuple(expected[name].shape)}",
                REEXPORT,
            )
    model.load_state_dict(bundle.tensors, strict=True)
    return model.to(device).eval()


class Avatar:
    """An AvatarModel in eval mode plus the glue to drive it from audio or from keypoints."""

    def __init__(self, model: AvatarModel) -> None:
        self.model = model.eval()
        self.spec = model.spec

    @classmethod
    def from_bundle(cls, path: str | Path, device: str | torch.device = "cpu") -> Avatar:
        return cls(load_avatar_model(path, device))

    @property
    def device(self) -> torch.device:
        return self.model.box_min.device

    # -- driving signals -------------------------------------------------------------------------
    def mel_from_audio(self, samples: np.ndarray, num_frames: int) -> np.ndarray:
        """log-mel rows [num_frames * 4, n_mels] of 16 kHz mono samples, as the subject's were computed."""
        return log_mel(samples, rate=AUDIO_RATE, n_mels=self.spec.n_mels, num_frames=num_frames, fps=self.spec.fps)

    @torch.no_grad()
    def codes_from_windows(self, windows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition codes [B, C] and predicted normalised keypoints [B, K, 3] from mel windows [B, W, n_mels]."""
        m = self.model
        mel = torch.from_numpy(windows).to(self.device)
        keypoints, _ = m.predict_keypoints(mel)
        code = m.code(mel_window=mel) if m.condition == "audio" else m.code(normalised_keypoints=keypoints)
        return code, keypoints

    @torch.no_grad()
    def codes_from_mel(
        self, mel: np.ndarray, frames: np.ndarray | None = None, batch: int = 256
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition codes [T, C] and predicted normalised keypoints [T, K, 3] for video frames of a mel track."""
        m = self.model
        frames = np.arange(len(mel) // self.spec.mel_per_frame) if frames is None else frames
        codes, keypoints = [], []
        for i in range(0, len(frames), batch):
            windows = mel_windows(
                mel, frames[i : i + batch], m.audio2kp.past, m.audio2kp.future, self.spec.mel_per_frame
            )
            code, kp = self.codes_from_windows(windows)
            codes.append(code)
            keypoints.append(kp)
        return torch.cat(codes), torch.cat(keypoints)

    @torch.no_grad()
    def codes_from_keypoints(self, keypoints: np.ndarray, retarget_from_mean: np.ndarray | None = None) -> torch.Tensor:
        """Codes [T, C] from raw canonical keypoints [T, K, 3]. With `retarget_from_mean` (another subject's
        mean keypoints), the expression deltas from that mean are moved onto this avatar's mean."""
        m = self.model
        if m.condition != "keypoints":
            raise ValueError("this avatar is conditioned on audio; it cannot be driven by keypoints")
        kp = torch.from_numpy(np.asarray(keypoints, np.float32)).to(self.device)
        if retarget_from_mean is not None:
            kp = kp - torch.from_numpy(np.asarray(retarget_from_mean, np.float32)).to(self.device) + m.kp_mean
        return m.code(normalised_keypoints=m.normalise_keypoints(kp))

    def playback_track(
        self, count: int, start: int = 0, window: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Poses [count, 4, 4] and normalised frame conditions [count, 11] of frames start..start+count-1,
        replayed from the training track (back and forth, so there is no jump at the end); with `window`, only
        its first `window` frames are replayed (a short loop)."""
        m = self.model
        n = m.pose_track.shape[0] if window is None else max(1, min(window, m.pose_track.shape[0]))
        period = max(1, 2 * n - 2)
        idx = (start + np.arange(count)) % period
        idx = torch.from_numpy(np.where(idx < n, idx, period - idx)).to(self.device)
        poses = m.pose_track[idx]
        conds = m.frame_condition(poses, m.crop_track[idx])
        return poses, conds

    # -- frames ------------------------------------------------------------------------------------
    @torch.no_grad()
    def render(
        self, pose: torch.Tensor, cond: torch.Tensor, code: torch.Tensor, out: np.ndarray | None = None
    ) -> np.ndarray:
        """uint8 [S, S, 3] frame, written into `out` when given (a preallocated buffer)."""
        image = (self.model.render_frame(pose, cond, code) * 255.0).round_().to("cpu", torch.uint8)
        if out is None:
            return image.numpy()
        out[...] = image.numpy()
        return out

    def render_reference(self, pose: torch.Tensor, cond: torch.Tensor, code: torch.Tensor) -> np.ndarray:
        """uint8 [S, S, 3] frame traced as in training (AvatarModel.render_reference_frame): slow, for evaluation."""
        return (self.model.render_reference_frame(pose, cond, code) * 255.0).round_().to("cpu", torch.uint8).numpy()

    def render_sequence(
        self, codes: torch.Tensor, poses: torch.Tensor | None = None, conds: torch.Tensor | None = None
    ) -> Iterator[np.ndarray]:
        if poses is None or conds is None:
            poses, conds = self.playback_track(len(codes))
        for i in range(len(codes)):
            yield self.render(poses[i], conds[i], codes[i])
