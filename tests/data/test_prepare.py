from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from avatarlab.config_args import from_config
from avatarlab.data.head_pose import relative_pose_errors, rotation_angle_degrees
from avatarlab.data.media import write_video
from avatarlab.data.prepare import OUTPUTS, prepare_subject
from avatarlab.data.subject import MASK_FACE, MASK_MOUTH, MASK_PERSON, Subject
from avatarlab.errors import UserInputError

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_prepared_subject_layout(prepared_clip: Path) -> None:
    subject = Subject.open(prepared_clip)
    count = subject.num_frames
    assert count == 100
    assert subject.frames.shape == (count, 128, 128, 3) and subject.frames.dtype == np.uint8
    assert subject.landmarks.shape == (count, 478, 3)
    assert subject.pose.shape == (count, 4, 4)
    assert subject.keypoints.shape == (count, len(subject.keypoint_indices), 3)
    assert subject.mel.shape == (count * 4, 80)
    assert subject.masks.shape == (count, 128, 128)
    assert subject.background.shape == (128, 128, 3)
    # time split: a clip under a minute holds out its last 2 s (here half of the 4 s)
    assert subject.manifest["split"] == {"train": [0, 50], "val": [50, 100]}
    # every frame's landmarks lie inside the crop, and the masks nest
    assert np.isfinite(subject.landmarks).all()
    assert (subject.landmarks[..., :2] > 0).all() and (subject.landmarks[..., :2] < 128).all()
    masks = subject.masks
    assert ((masks & MASK_FACE) > 0).mean() > 0.05 and ((masks & MASK_MOUTH) > 0).any()
    assert (((masks & MASK_FACE) > 0) <= ((masks & MASK_PERSON) > 0)).all()


def test_manifest_records_versions_params_and_hashes(prepared_clip: Path) -> None:
    from avatarlab.hashing import sha256_file

    manifest = json.loads((prepared_clip / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert set(manifest["outputs"]) == set(OUTPUTS)
    assert manifest["outputs"]["landmarks.npy"] == sha256_file(prepared_clip / "landmarks.npy")
    assert manifest["params"]["size"] == 128
    assert {"mediapipe", "numpy", "opencv", "librosa"} <= set(manifest["versions"])
    assert len(manifest["input"]["sha256"]) == 64
    assert {"fx", "fy", "cx", "cy"} <= set(manifest["camera"])


def test_head_pose_matches_ground_truth(prepared_clip: Path, synthetic_clip: Path) -> None:
    truth = np.load(synthetic_clip / "ground_truth.npz")["rotation"].astype(np.float64)
    estimated = np.load(prepared_clip / "pose.npy")[:, :3, :3].astype(np.float64)
    errors = relative_pose_errors(estimated, truth)
    assert np.median(errors) < 2.0
    # the estimate moves with the truth: a static estimate would miss by the head's whole motion
    assert np.median(rotation_angle_degrees(truth, truth[:1].repeat(len(truth), 0))) > 2 * np.median(errors)


def test_mouth_opening_tracks_ground_truth(prepared_clip: Path, synthetic_clip: Path) -> None:
    truth = np.load(synthetic_clip / "ground_truth.npz")["mouth_open"]
    tracked = np.load(prepared_clip / "mouth_open.npy")
    assert np.corrcoef(truth, tracked)[0, 1] > 0.8


def test_rerun_does_nothing(prepared_clip: Path, synthetic_clip: Path) -> None:
    stamps = {name: (prepared_clip / name).stat().st_mtime_ns for name in OUTPUTS + ["manifest.json"]}
    prepare_subject(
        synthetic_clip / "video.mp4",
        prepared_clip,
        "clip",
        from_config("prepare.yaml", "params", size=128),
        force=False,
    )
    assert stamps == {name: (prepared_clip / name).stat().st_mtime_ns for name in OUTPUTS + ["manifest.json"]}


def test_other_parameters_need_force(prepared_clip: Path, synthetic_clip: Path) -> None:
    with pytest.raises(UserInputError, match="force=true"):
        prepare_subject(
            synthetic_clip / "video.mp4",
            prepared_clip,
            "clip",
            from_config("prepare.yaml", "params", size=96),
            force=False,
        )


@pytest.mark.slow
def test_interrupted_run_resumes(synthetic_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "resumed"
    cmd = [
        sys.executable,
        "-m",
        "avatarlab.data.prepare",
        f"input={synthetic_clip / 'video.mp4'}",
        "name=resumed",
        f"out_dir={out}",
        "size=128",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (out / ".stages" / "landmarks.json").exists():
        assert proc.poll() is None and time.time() < deadline, "prepare ended before it could be interrupted"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()  # not marked complete
    rerun = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    log = rerun.stdout + rerun.stderr
    for stage in ("find_face", "frames", "audio", "landmarks"):
        assert f"stage {stage}" in log and "skipped" in log.split(f"stage {stage}")[1].splitlines()[0]
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
    assert not list(out.glob(".*.tmp"))


# --- bad input -----------------------------------------------------------------------------------


def _write_video(path: Path, frames: list[np.ndarray], audio: bool = True) -> Path:
    """Encode frames (RGB) at 25 fps with the project's writer; a 220 Hz tone as audio when asked."""
    tone = None
    if audio:
        tone = path.with_suffix(".wav")
        t = np.arange(int(len(frames) / 25 * 16000)) / 16000
        sf.write(tone, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    write_video(path, frames, 25, audio=tone)
    return path


def _astronaut(size: int = 256) -> np.ndarray:
    from skimage import data

    return cv2.resize(data.astronaut(), (size, size))


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="does not exist"):
        prepare_subject(
            tmp_path / "nope.mp4", tmp_path / "out", "x", from_config("prepare.yaml", "params"), force=False
        )


def test_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    with pytest.raises(UserInputError, match="not a video"):
        prepare_subject(text, tmp_path / "out", "x", from_config("prepare.yaml", "params"), force=False)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_video_without_audio_needs_flag(tmp_path: Path) -> None:
    video = _write_video(tmp_path / "silent.mp4", [_astronaut()] * 60, audio=False)
    with pytest.raises(UserInputError, match="no audio track"):
        prepare_subject(video, tmp_path / "out", "x", from_config("prepare.yaml", "params"), force=False)
    out = prepare_subject(
        video, tmp_path / "out", "x", from_config("prepare.yaml", "params", size=64, allow_no_audio=True), force=False
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["input"]["has_audio"] is False


def test_no_face(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    video = _write_video(
        tmp_path / "noface.mp4", [rng.integers(0, 255, (128, 128, 3), dtype=np.uint8) for _ in range(60)]
    )
    with pytest.raises(UserInputError, match="face was found in only"):
        prepare_subject(video, tmp_path / "out", "x", from_config("prepare.yaml", "params"), force=False)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_several_faces(tmp_path: Path) -> None:
    from skimage import data

    face = data.astronaut()[20:260, 100:340]  # the head, filling the frame
    pair = np.concatenate([face, face], axis=1)
    video = _write_video(tmp_path / "two.mp4", [pair] * 60)
    with pytest.raises(UserInputError, match="several faces"):
        prepare_subject(video, tmp_path / "out", "x", from_config("prepare.yaml", "params"), force=False)


def test_too_short(tmp_path: Path) -> None:
    video = _write_video(tmp_path / "short.mp4", [_astronaut()] * 25)
    with pytest.raises(UserInputError, match="shorter than the minimum"):
        prepare_subject(video, tmp_path / "out", "x", from_config("prepare.yaml", "params"), force=False)


def test_unwritable_output(tmp_path: Path, synthetic_clip: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(UserInputError, match="cannot write to the output folder"):
        prepare_subject(
            synthetic_clip / "video.mp4", blocker / "subject", "x", from_config("prepare.yaml", "params"), force=False
        )


def test_command_line_reports_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "avatarlab.data.prepare",
            f"input={tmp_path / 'missing.mp4'}",
            "name=x",
            f"out_dir={out}",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "error:" in result.stderr and "fix:" in result.stderr and "Traceback" not in result.stderr
    missing_name = subprocess.run(
        [sys.executable, "-m", "avatarlab.data.prepare", "input=x.mp4"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert missing_name.returncode != 0 and "name" in missing_name.stderr
    assert not (out / "manifest.json").exists()


@pytest.mark.shared_data
def test_real_face(shared_data: Path, tmp_path: Path) -> None:
    out = prepare_subject(
        shared_data / "hdtf_katie_8s.mp4",
        tmp_path / "katie",
        "katie",
        from_config("prepare.yaml", "params", size=128),
        force=False,
    )
    subject = Subject.open(out)
    detected = np.load(out / "detected.npy")
    assert detected.mean() >= 0.95
    rotations = subject.pose[:, :3, :3].astype(np.float64)
    steps = rotation_angle_degrees(rotations[1:], rotations[:-1])
    assert np.median(steps) < 1.0 and steps.max() < 5.0  # pose changes smoothly
    assert subject.num_frames == 200
