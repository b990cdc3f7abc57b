"""The built-in subject: a real photograph animated into a talking video, deterministic from a seed.

`python -m avatarlab.data.synthetic [seed=0] [seconds=60] [out_dir=datasets/astronaut_source]`

scikit-image's `astronaut` (a public-domain NASA portrait) is meshed from its own mediapipe landmarks
plus a grid; each frame moves that mesh in 3D: head rotation about a pivot behind the face, a jaw that
opens with the loudness of synthesized speech, blinks. The image is warped with the mesh's dense
displacement field, and the mouth's inside is painted. Ground truth (landmarks, rotation, mouth
opening, blink) is saved beside the video.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
from scipy.ndimage import gaussian_filter1d
from scipy.spatial import Delaunay
from tqdm import tqdm

from avatarlab.atomic import atomic_path, save_json
from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.data import face_landmarks as fl
from avatarlab.data.face_tracking import track_faces
from avatarlab.data.head_pose import euler_to_matrix
from avatarlab.data.media import write_video
from avatarlab.data.speech import synthesize
from avatarlab.data.stages import job_key
from avatarlab.errors import UserInputError

log = logging.getLogger(__name__)

SENTENCES = [
    "Good morning, and thank you for joining me today.",
    "I want to tell you about a trip I took last summer.",
    "We drove along the coast for almost three hours.",
    "The weather was perfect, warm and bright with a gentle breeze.",
    "Have you ever tried to cook a meal for twelve people?",
    "It is much harder than it looks, believe me.",
    "First you need a plan, then you need a lot of patience.",
    "My favourite part of the day is the quiet hour before sunrise.",
    "Science is a way of asking careful questions about the world.",
    "Could you pass me the blue folder on the desk, please?",
    "Numbers like seven, forty two and one thousand appear everywhere.",
    "Reading a good book is like talking with a wise old friend.",
    "Please remember to water the plants while I am away.",
    "The train leaves at half past eight from platform four.",
    "Oh, I almost forgot to mention the most important thing.",
    "We should meet again next week to review the results.",
    "Music can change the mood of a whole room in seconds.",
    "Mountains, rivers and forests cover most of the valley.",
    "Why do cats always sit on the one paper you need?",
    "Learning a new language opens doors you never knew existed.",
    "The launch was delayed twice because of strong winds.",
    "Every mission begins with months of training and preparation.",
    "Looking back at the Earth from orbit changes how you see everything.",
    "Honestly, I think the simplest answer is usually the right one.",
    "Well, that depends on what you mean by success.",
    "Let me explain the idea step by step.",
    "Bright red apples were piled high at the market stall.",
    "Nobody expected the meeting to finish so early.",
    "Thank you very much, that was really helpful.",
    "See you tomorrow, and have a lovely evening.",
]

UPPER_LIP = [185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311, 310, 415]
LOWER_LIP = [375, 321, 405, 314, 17, 84, 181, 91, 146, 324, 318, 402, 317, 14, 87, 178, 88, 95]
MOUTH_INSIDE = (70, 18, 28)
TEETH = (225, 222, 212)


@dataclass(frozen=True)
class SyntheticParams:
    """What the built-in subject is made of: seed, length, speech engine, and how the face moves
    (values: configs/synthetic.yaml)."""

    seed: int
    seconds: float
    fps: float
    engine: str
    yaw_degrees: float
    pitch_degrees: float
    roll_degrees: float
    shift_pixels: float
    jaw_open: float  # of the face height, at full loudness
    sample_rate: int


def speech_track(params: SyntheticParams, rng: np.random.Generator) -> tuple[np.ndarray, list[dict[str, float | str]]]:
    """Sentences in random order with pauses, until `seconds` of audio: float32 samples and a transcript."""
    rate = params.sample_rate
    pieces, transcript, cursor = [np.zeros(int(0.4 * rate), np.float32)], [], 0.4
    order = rng.permutation(len(SENTENCES))
    i = 0
    while cursor < params.seconds:
        text = SENTENCES[order[i % len(order)]]
        i += 1
        speech = synthesize(
            text, rate, params.engine, words_per_minute=int(rng.integers(150, 185)), pitch=int(rng.integers(40, 70))
        )
        speech = speech / max(np.abs(speech).max(), 1e-6) * 0.8
        transcript.append({"text": text, "start": cursor, "end": cursor + len(speech) / rate})
        pause = float(rng.uniform(0.25, 1.1))
        pieces += [speech, np.zeros(int(pause * rate), np.float32)]
        cursor += len(speech) / rate + pause
    audio = np.concatenate(pieces)[: int(params.seconds * rate)]
    return audio, [t for t in transcript if t["start"] < params.seconds]


def mouth_track(audio: np.ndarray, rate: int, fps: float, count: int) -> np.ndarray:
    """[T] mouth opening in [0, 1] from the loudness around each frame (40 ms window)."""
    hop, half = rate / fps, int(0.02 * rate)
    centres = (np.arange(count) * hop + hop / 2).astype(int)
    padded = np.pad(audio, half)
    rms = np.array([np.sqrt(np.mean(padded[c : c + 2 * half] ** 2)) for c in centres])
    loud = np.percentile(rms[rms > 0], 95) if (rms > 0).any() else 1.0
    opening = np.clip(rms / loud, 0, 1) ** 0.7
    opening[rms < 0.06 * loud] = 0.0
    return gaussian_filter1d(opening, 0.6).clip(0, 1)


def smooth_motion(rng: np.random.Generator, count: int, fps: float, amplitude: float) -> np.ndarray:
    """[T] a smooth random signal in about [-amplitude, amplitude]: a sum of slow sinusoids."""
    t = np.arange(count) / fps
    freqs = rng.uniform(0.04, 0.35, 4)
    phases = rng.uniform(0, 2 * np.pi, 4)
    weights = rng.uniform(0.4, 1.0, 4)
    signal = (weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)
    return amplitude * signal / weights.sum() * 1.6


def blink_track(rng: np.random.Generator, count: int, fps: float) -> np.ndarray:
    """[T] eye closure in [0, 1]: blinks of 0.28 s every 2 to 6 s."""
    closure = np.zeros(count)
    shape = np.array([0.3, 0.75, 1.0, 1.0, 0.7, 0.35, 0.1])
    t = rng.uniform(0.8, 3.0)
    while t * fps < count - len(shape):
        start = int(t * fps)
        closure[start : start + len(shape)] = np.maximum(closure[start : start + len(shape)], shape)
        t += rng.uniform(2.0, 6.0)
    return closure


class FaceRig:
    """A photo meshed from its landmarks and a grid; renders the face moved in 3D."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, jaw_open: float = 0.11, grid_step: int = 32) -> None:
        self.image = image
        self.jaw_open = jaw_open
        height, width = image.shape[:2]
        self.landmarks = landmarks.astype(np.float64)  # [478, 3] pixels
        oval = self.landmarks[fl.FACE_OVAL]
        low, high = oval[:, :2].min(0), oval[:, :2].max(0)
        self.face_size = high - low
        centre = (low + high) / 2
        self.mouth_y = self.landmarks[[fl.MOUTH_LEFT, fl.MOUTH_RIGHT], 1].mean()
        self.mouth_x = self.landmarks[[fl.MOUTH_LEFT, fl.MOUTH_RIGHT], 0].mean()
        self.chin_y = self.landmarks[152, 1]

        xs, ys = np.meshgrid(
            np.arange(0, width + 1, grid_step, dtype=float), np.arange(0, height + 1, grid_step, dtype=float)
        )
        grid = np.stack([xs.ravel().clip(0, width - 1), ys.ravel().clip(0, height - 1)], 1)
        inside_face = cv2.pointPolygonTest
        hull = self.landmarks[fl.FACE_OVAL_LOOP, :2].astype(np.float32)
        keep = [inside_face(hull, (float(x), float(y)), True) < -grid_step * 0.5 for x, y in grid]
        grid = grid[np.array(keep)]
        grid_z = np.full((len(grid), 1), oval[:, 2].mean())
        self.vertices = np.concatenate([self.landmarks, np.concatenate([grid, grid_z], 1)])  # [V, 3]

        # head weight: 1 on the head (face and hair), fading to 0 over the neck and background
        head_centre = centre - np.array([0.0, 0.12 * self.face_size[1]])
        radii = np.array([0.78, 0.8]) * self.face_size
        r = np.sqrt((((self.vertices[:, :2] - head_centre) / radii) ** 2).sum(1))
        self.head_weight = 1.0 - np.clip((r - 1.0) / 0.6, 0, 1) ** 2 * (3 - 2 * np.clip((r - 1.0) / 0.6, 0, 1))
        self.head_weight[: len(self.landmarks)] = 1.0
        self.pivot = np.array([centre[0], centre[1] + 0.25 * self.face_size[1], 0.6 * self.face_size[0]])

        self.jaw_weight = self._jaw_weights()
        self.upper_lid, self.lower_lid = self._lid_weights()

        triangulation = Delaunay(self.vertices[:, :2])
        px, py = np.meshgrid(np.arange(width, dtype=float), np.arange(height, dtype=float))
        pixels = np.stack([px.ravel(), py.ravel()], 1)
        simplex = triangulation.find_simplex(pixels)
        simplex[simplex < 0] = 0
        transform = triangulation.transform[simplex]  # [P, 3, 2]
        bary2 = np.einsum("pij,pj->pi", transform[:, :2], pixels - transform[:, 2])  # [P, 2]
        self.bary = np.concatenate([bary2, 1 - bary2.sum(1, keepdims=True)], 1).astype(np.float32)  # [P, 3]
        self.corners = triangulation.simplices[simplex]  # [P, 3] vertex ids
        self.identity = np.stack([px, py], -1).astype(np.float32)  # [H, W, 2]

    def _jaw_weights(self) -> np.ndarray:
        x, y = self.vertices[:, 0], self.vertices[:, 1]
        across = np.exp(-(((x - self.mouth_x) / (0.42 * self.face_size[0])) ** 2))
        below = np.clip((y - self.mouth_y) / (0.03 * self.face_size[1]), 0, 1)
        fade = np.clip(1 - (y - self.chin_y) / (0.35 * self.face_size[1]), 0, 1)
        weight = across * below * fade
        weight[UPPER_LIP] = -0.12 * across[UPPER_LIP]
        weight[LOWER_LIP] = across[LOWER_LIP]
        weight[[fl.MOUTH_LEFT, fl.MOUTH_RIGHT, 78, 308]] = 0.1
        return weight

    def _lid_weights(self) -> tuple[np.ndarray, np.ndarray]:
        upper, lower = np.zeros(len(self.vertices)), np.zeros(len(self.vertices))
        for eye in (fl.LEFT_EYE, fl.RIGHT_EYE):
            centre_y = self.landmarks[eye, 1].mean()
            for i in eye:
                gap = centre_y - self.landmarks[i, 1]
                (upper if gap > 0 else lower)[i] = gap
        return upper, lower

    def pose_vertices(self, rotation: np.ndarray, shift: np.ndarray, mouth: float, closure: float) -> np.ndarray:
        """[V, 3] vertex positions for one frame."""
        moved = self.vertices.copy()
        moved[:, 1] += mouth * self.jaw_weight * self.jaw_open * self.face_size[1]
        moved[:, 1] += closure * (1.85 * self.upper_lid + 0.25 * self.lower_lid)
        rigid = (moved - self.pivot) @ rotation.T + self.pivot + np.array([shift[0], shift[1], 0.0])
        w = self.head_weight[:, None]
        return w * rigid + (1 - w) * moved

    def render(self, vertices: np.ndarray) -> np.ndarray:
        """RGB uint8 frame: the photo warped by the vertices' displacement, the mouth's inside painted."""
        height, width = self.image.shape[:2]
        displacement = (vertices[:, :2] - self.vertices[:, :2]).astype(np.float32)  # [V, 2]
        dense = (displacement[self.corners] * self.bary[..., None]).sum(1).reshape(height, width, 2)  # [H, W, 2]
        source = self.identity - dense
        for _ in range(4):  # fixed point of source = target - displacement(source)
            source = self.identity - cv2.remap(
                dense, source[..., 0], source[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        frame = cv2.remap(self.image, source[..., 0], source[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self._paint_mouth(frame, vertices)
        return frame

    def _paint_mouth(self, frame: np.ndarray, vertices: np.ndarray) -> None:
        scale = 4  # sub-pixel polygon edges
        inner = np.round(vertices[fl.LIPS_INNER_LOOP, :2] * scale).astype(np.int32)
        gap = np.linalg.norm(vertices[fl.UPPER_LIP_INNER, :2] - vertices[fl.LOWER_LIP_INNER, :2])
        if gap < 0.8:
            return
        cv2.fillPoly(frame, [inner], MOUTH_INSIDE, lineType=cv2.LINE_AA, shift=2)
        upper = vertices[[78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308], :2]
        teeth = np.concatenate([upper, upper[::-1] + np.array([0.0, min(0.35 * gap, 0.05 * self.face_size[1])])])
        cv2.fillPoly(frame, [np.round(teeth * scale).astype(np.int32)], TEETH, lineType=cv2.LINE_AA, shift=2)


def source_landmarks(image: np.ndarray) -> np.ndarray:
    """The 478 FaceMesh landmarks [478, 3] (pixels) of the source photograph."""
    tracks = track_faces([image], total=1, static=True, desc="photo landmarks")
    if not tracks.detected[0]:
        raise RuntimeError("mediapipe found no face in the source photograph")
    return tracks.landmarks[0]


def generate(out_dir: str | Path, params: SyntheticParams) -> Path:
    """Write video.mp4, audio.wav, ground_truth.npz and transcript.json to `out_dir`; skip if up to date."""
    from skimage import data as skdata

    if checked("seconds", params.seconds, float) < 2:
        raise UserInputError(
            f"seconds={params.seconds} is too short", "pass seconds=2 or more (60 for the quick start)"
        )
    out = Path(out_dir)
    key = job_key({"params": asdict(params), "version": 1})
    info_path = out / "synthetic.json"
    if info_path.is_file() and json.loads(info_path.read_text()).get("key") == key and (out / "video.mp4").is_file():
        log.info("%s is up to date; nothing to do", out)
        return out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(params.seed)
    image = skdata.astronaut()  # [512, 512, 3] RGB
    rig = FaceRig(image, source_landmarks(image), params.jaw_open)
    audio, transcript = speech_track(params, rng)
    count = int(len(audio) / params.sample_rate * params.fps)
    mouth = mouth_track(audio, params.sample_rate, params.fps, count)
    euler = np.stack(
        [
            smooth_motion(rng, count, params.fps, a)
            for a in (params.yaw_degrees, params.pitch_degrees, params.roll_degrees)
        ],
        1,
    )
    shift = np.stack([smooth_motion(rng, count, params.fps, params.shift_pixels) for _ in range(2)], 1)
    closure = blink_track(rng, count, params.fps)
    rotations = np.stack([euler_to_matrix(*e) for e in euler])
    landmarks = np.zeros((count, fl.NUM_LANDMARKS, 3), np.float32)

    with atomic_path(out / "audio.wav") as tmp:
        sf.write(tmp, audio, params.sample_rate, subtype="PCM_16", format="WAV")

    def frames():  # type: ignore[no-untyped-def]
        for t in tqdm(range(count), desc="synthetic frames", unit="frame", leave=False, disable=None):
            vertices = rig.pose_vertices(rotations[t], shift[t], mouth[t], closure[t])
            landmarks[t] = vertices[: fl.NUM_LANDMARKS]
            yield rig.render(vertices)

    with atomic_path(out / "video.mp4") as tmp:
        write_video(tmp, frames(), params.fps, audio=out / "audio.wav", crf=16)
    with atomic_path(out / "ground_truth.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                landmarks=landmarks,
                rotation=rotations.astype(np.float32),
                euler_degrees=euler.astype(np.float32),
                shift=shift.astype(np.float32),
                mouth_open=mouth.astype(np.float32),
                blink=closure.astype(np.float32),
            )
    save_json(out / "transcript.json", transcript)
    save_json(
        info_path,
        {
            "key": key,
            "params": asdict(params),
            "num_frames": count,
            "source_image": "skimage.data.astronaut (public domain, NASA)",
        },
    )
    log.info("synthetic subject: %d frames (%.1f s) -> %s", count, count / params.fps, out)
    return out


def _main() -> None:
    import hydra
    from hydra.utils import instantiate
    from omegaconf import DictConfig

    @hydra.main(version_base="1.3", config_path=config_dir(), config_name="synthetic")
    def main(cfg: DictConfig) -> None:
        run_cli(lambda: generate(cfg.out_dir, instantiate(cfg.params)))

    main()


if __name__ == "__main__":
    _main()
