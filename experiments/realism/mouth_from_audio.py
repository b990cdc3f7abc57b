"""How much of the mouth can a short clip's audio teach? A probe on a trained run.

    python experiments/realism/mouth_from_audio.py run=logs/realism/RUN [transcript="WORDS ..."]

Each driver gives keypoints for every frame; the run's field renders the held-out frames from them by the fast
path, and the robust lip-sync reading compares the rendered mouth's movement with the real one's (real video: 1):

- tracked keypoints (the field's own ceiling), and the same on 50 training frames (what it has seen);
- the mean training keypoints on every frame (a still mouth: what the head's motion alone scores);
- the run's audio2kp;
- ridge maps fitted on the training frames from low-capacity audio features (the log-mel of frames t-2..t+2,
  the loudness of t-1..t+1), their strength chosen by a 5-fold blocked cross-validation over the training frames
  (the lip and jaw keypoints' error on each left-out block, 4 frames either side of it left out too; nothing
  from the held-out 2 s);
- with `transcript` and pocketsphinx installed (`pip install pocketsphinx`; its English model ships in the
  package): visemes from the phones of a forced alignment of the transcript, one-hot over 12 classes, smoothed by
  a 45 ms Gaussian, through the same cross-validated ridge.

It prints each driver's reading and the cross-validation error against the still mouth's (below 1: the audio
predicts left-out training frames better than their mean).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from omegaconf import OmegaConf
from scipy.ndimage import gaussian_filter1d

from avatarlab.avatar.datamodule import SubjectArrays
from avatarlab.avatar.lit import load_checkpoint, model_from_checkpoint
from avatarlab.cli import key_value_options
from avatarlab.data import face_landmarks as fl
from avatarlab.data.subject import Subject
from avatarlab.export.run_checkpoint import find_checkpoint
from avatarlab.metrics.lipsync import audio_envelope, lip_sync_robust
from avatarlab.runtime.avatar import Avatar

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
VISEMES = {
    "closed": "P B M",
    "labiodental": "F V",
    "rounded": "W UW UH OW AO OY",
    "open": "AA AE AY AW",
    "schwa": "AH",
    "mid": "EH ER EY",
    "front": "IY IH Y",
    "alveolar": "T D N S Z L TH DH",
    "r": "R",
    "postalveolar": "SH ZH CH JH",
    "back": "K G NG HH",
    "silence": "SIL",
}


def ridge(x: np.ndarray, y: np.ndarray, rows: np.ndarray, alpha: float) -> Callable[[np.ndarray], np.ndarray]:
    """The ridge map from features x [T, F] to targets y [T, D], fitted on `rows` (centred, no penalty on the mean)."""
    x_mean, y_mean = x[rows].mean(0), y[rows].mean(0)
    xc = x[rows] - x_mean
    weights = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y[rows] - y_mean))
    return lambda z: (z - x_mean) @ weights + y_mean


def cross_validated(
    x: np.ndarray, y: np.ndarray, train: np.ndarray, scored: np.ndarray, folds: int = 5, gap: int = 4
) -> tuple[float, float]:
    """(alpha, error relative to predicting each left-out block by the rest's mean) by blocked cross-validation,
    the error taken over the target columns `scored`."""
    blocks = np.array_split(train, folds)

    def error(alpha: float | None) -> float:
        total = 0.0
        for block in blocks:
            rest = np.setdiff1d(train, np.arange(block[0] - gap, block[-1] + gap + 1))
            guess = y[rest].mean(0) if alpha is None else ridge(x, y, rest, alpha)(x[block])
            total += float(((guess - y[block])[:, scored] ** 2).mean())
        return total

    still = error(None)
    errors = [error(a) for a in ALPHAS]
    best = int(np.argmin(errors))
    return ALPHAS[best], errors[best] / still


def shifted(features: np.ndarray, shifts: range) -> np.ndarray:
    """[T, F * len(shifts)]: features of frames t + s for each shift (edges repeated)."""
    index = np.arange(len(features))
    return np.concatenate([features[np.clip(index + s, 0, len(features) - 1)] for s in shifts], axis=1)


def standardised(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return (x - x[rows].mean(0)) / (x[rows].std(0) + 1e-6)


def aligned_visemes(audio: Path, transcript: str, num_frames: int, fps: float) -> np.ndarray | None:
    """[T, 12] viseme classes of the transcript's phones, forced-aligned by pocketsphinx, smoothed; None without it."""
    try:
        from pocketsphinx import Decoder
    except ImportError:
        return None
    samples, rate = sf.read(str(audio), dtype="int16")
    decoder = Decoder(samprate=rate, bestpath=False, loglevel="ERROR")

    def decode() -> None:
        decoder.start_utt()
        decoder.process_raw(samples.tobytes(), full_utt=True)
        decoder.end_utt()

    decoder.set_align_text(transcript)
    decode()  # the words' times
    decoder.set_alignment()
    decode()  # the phones within them
    classes = list(VISEMES)
    class_of = {phone: c for c, phones in VISEMES.items() for phone in phones.split()}
    grid = np.arange(0.0, num_frames / fps, 0.005)  # 5 ms
    onehot = np.zeros((len(grid), len(classes)))
    onehot[:, classes.index("silence")] = 1.0
    for word in decoder.get_alignment():
        for phone in word:
            inside = (grid >= phone.start / 100) & (grid < (phone.start + phone.duration) / 100)
            onehot[inside] = 0.0
            onehot[inside, classes.index(class_of.get(phone.name, "silence"))] = 1.0
    smooth = gaussian_filter1d(onehot, 45 / 5, axis=0)
    centres = (np.arange(num_frames) + 0.5) / fps
    return np.stack([np.interp(centres, grid, smooth[:, c]) for c in range(len(classes))], axis=1)


def main() -> None:
    options = key_value_options(sys.argv[1:], {"run": "", "transcript": ""})
    run = Path(options["run"])
    avatar = Avatar(model_from_checkpoint(load_checkpoint(find_checkpoint(run, "avatar_real")), "cpu"))
    subject = Subject.open(OmegaConf.load(run / "config.yaml").data.subject_dir)
    data = SubjectArrays(subject)
    model = avatar.model
    train, held_out = np.asarray(data.train_frames), np.asarray(data.val_frames)
    count = len(data.frames)
    landmarks = np.asarray(subject.landmarks)
    keypoints = data.keypoints.reshape(count, -1).astype(np.float64)  # [T, K * 3]
    conds = model.normalise_condition(torch.from_numpy(data.frame_conds))
    mouth = [i for i, landmark in enumerate(fl.EXPRESSION) if landmark in set(fl.LIPS) | set(fl.JAW)]
    mouth_columns = (3 * np.asarray(mouth)[:, None] + np.arange(3)).reshape(-1)  # x, y, z of lip and jaw keypoints

    def reading(codes: torch.Tensor, frames: np.ndarray) -> float:
        poses = torch.from_numpy(data.pose[frames])
        rendered = np.stack([avatar.render(poses[i], conds[frames[i]], codes[i]) for i in range(len(frames))])
        return lip_sync_robust(rendered, data.frames[frames], landmarks[frames])

    def keypoint_reading(all_keypoints: np.ndarray, frames: np.ndarray = held_out) -> float:
        chosen = all_keypoints[frames].reshape(len(frames), -1, 3).astype(np.float32)
        return reading(avatar.codes_from_keypoints(chosen), frames)

    print("| driver | robust lip sync, held-out | cross-validation: alpha, error against a still mouth |")
    print("|---|---|---|")
    print(f"| tracked keypoints | {keypoint_reading(keypoints):.3f} | - |")
    seen = train[-len(held_out) :]
    print(f"| tracked keypoints, {len(seen)} training frames | {keypoint_reading(keypoints, seen):.3f} | - |")
    still = np.tile(keypoints[train].mean(0), (count, 1))
    print(f"| still mouth (mean training keypoints) | {keypoint_reading(still):.3f} | 1 |")
    print(f"| the run's audio2kp | {reading(avatar.codes_from_mel(data.mel, held_out)[0], held_out):.3f} | - |")

    samples, rate = subject.audio()
    mel = data.mel.reshape(count, -1, data.mel.shape[1]).mean(1)  # [T, n_mels]: each frame's 4 rows averaged
    loudness = audio_envelope(samples, rate, count, data.spec.fps)[:, None]  # [T, 1]
    drivers = {
        "ridge, log-mel of frames t-2..t+2": shifted(standardised(mel, train), range(-2, 3)),
        "ridge, loudness of frames t-1..t+1": shifted(standardised(loudness, train), range(-1, 2)),
    }
    if options["transcript"]:
        visemes = aligned_visemes(subject.root / "audio.wav", options["transcript"], count, data.spec.fps)
        if visemes is None:
            print("(visemes skipped: `pip install pocketsphinx` to include them)")
        else:
            drivers["ridge, forced-aligned visemes of frames t-2, t, t+2"] = shifted(visemes, range(-2, 3, 2))
    for name, features in drivers.items():
        alpha, relative = cross_validated(features, keypoints, train, mouth_columns)
        predicted = ridge(features, keypoints, train, alpha)(features)
        print(f"| {name} | {keypoint_reading(predicted):.3f} | {alpha:g}, {relative:.3f} |", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("WANDB_MODE", "offline")
    main()
