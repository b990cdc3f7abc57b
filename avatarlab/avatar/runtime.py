"""The avatar at inference: audio or keypoints in, frames out. Loads from a checkpoint or a bundle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from avatarlab.avatar.audio2kp import mel_windows
from avatarlab.avatar.model import AvatarModel

AUDIO_RATE = 16000


class Avatar:
    """An AvatarModel in eval mode plus the glue to drive it from audio or from keypoints."""

    def __init__(self, model: AvatarModel) -> None:
        self.model = model.eval()
        self.spec = model.spec

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> Avatar:
        from avatarlab.avatar.lit import load_checkpoint, model_from_checkpoint

        return cls(model_from_checkpoint(load_checkpoint(path)))

    @classmethod
    def from_bundle(cls, path: str | Path) -> Avatar:
        from avatarlab.export.avatar import load_avatar_bundle

        return cls(load_avatar_bundle(path))

    # -- driving signals -------------------------------------------------------------------------
    def mel_from_audio(self, samples: np.ndarray, num_frames: int) -> np.ndarray:
        """log-mel rows [num_frames * 4, n_mels] of 16 kHz mono samples, as the subject's were computed."""
        from avatarlab.data.audio_features import log_mel

        return log_mel(samples, rate=AUDIO_RATE, n_mels=self.spec.n_mels, num_frames=num_frames, fps=self.spec.fps)

    @torch.no_grad()
    def codes_from_mel(
        self, mel: np.ndarray, frames: np.ndarray | None = None, batch: int = 256
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition codes [T, C] and predicted normalised keypoints [T, K, 3] for video frames of a mel track."""
        m = self.model
        frames = np.arange(len(mel) // self.spec.mel_per_frame) if frames is None else frames
        codes, keypoints = [], []
        for i in range(0, len(frames), batch):
            windows = torch.from_numpy(
                mel_windows(mel, frames[i : i + batch], m.audio2kp.past, m.audio2kp.future, self.spec.mel_per_frame)
            )
            kp, _ = m.predict_keypoints(windows)
            keypoints.append(kp)
            codes.append(m.code(mel_window=windows) if m.condition == "audio" else m.code(normalised_keypoints=kp))
        return torch.cat(codes), torch.cat(keypoints)

    @torch.no_grad()
    def codes_from_keypoints(self, keypoints: np.ndarray, retarget_from_mean: np.ndarray | None = None) -> torch.Tensor:
        """Codes [T, C] from raw canonical keypoints [T, K, 3]. With `retarget_from_mean` (another subject's
        mean keypoints), the expression deltas from that mean are moved onto this avatar's mean."""
        m = self.model
        if m.condition != "keypoints":
            raise ValueError("this avatar is conditioned on audio; it cannot be driven by keypoints")
        kp = torch.from_numpy(np.asarray(keypoints, np.float32))
        if retarget_from_mean is not None:
            kp = kp - torch.from_numpy(np.asarray(retarget_from_mean, np.float32)) + m.kp_mean
        return m.code(normalised_keypoints=m.normalise_keypoints(kp))

    def playback_track(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Poses [count, 4, 4] and normalised frame conditions [count, 11] replayed from the training track
        (back and forth, so there is no jump at the end)."""
        m = self.model
        n = m.pose_track.shape[0]
        period = max(1, 2 * n - 2)
        idx = np.arange(count) % period
        idx = np.where(idx < n, idx, period - idx)
        poses = m.pose_track[idx]
        conds = m.frame_condition(poses, m.crop_track[idx])
        return poses, conds

    # -- frames ------------------------------------------------------------------------------------
    @torch.no_grad()
    def render(self, pose: torch.Tensor, cond: torch.Tensor, code: torch.Tensor) -> np.ndarray:
        """uint8 [S, S, 3] frame."""
        return (self.model.render_frame(pose, cond, code).numpy() * 255.0).round().astype(np.uint8)

    def render_sequence(
        self, codes: torch.Tensor, poses: torch.Tensor | None = None, conds: torch.Tensor | None = None
    ) -> Iterator[np.ndarray]:
        if poses is None or conds is None:
            poses, conds = self.playback_track(len(codes))
        for i in range(len(codes)):
            yield self.render(poses[i], conds[i], codes[i])
