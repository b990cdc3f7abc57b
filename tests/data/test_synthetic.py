from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avatarlab.config_args import from_config
from avatarlab.data.synthetic import generate, mouth_track


@pytest.mark.slow
def test_generator_is_deterministic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", from_config("synthetic.yaml", "params", seed=7, seconds=2.0))
    b = generate(tmp_path / "b", from_config("synthetic.yaml", "params", seed=7, seconds=2.0))
    c = generate(tmp_path / "c", from_config("synthetic.yaml", "params", seed=8, seconds=2.0))
    truth_a, truth_b, truth_c = (np.load(p / "ground_truth.npz") for p in (a, b, c))
    for key in truth_a.files:
        np.testing.assert_array_equal(truth_a[key], truth_b[key])
    np.testing.assert_array_equal(sf.read(a / "audio.wav")[0], sf.read(b / "audio.wav")[0])
    assert not np.array_equal(truth_a["euler_degrees"], truth_c["euler_degrees"])


def test_rerun_is_skipped(tmp_path: Path) -> None:
    out = generate(tmp_path / "a", from_config("synthetic.yaml", "params", seed=1, seconds=2.0))
    before = (out / "video.mp4").stat().st_mtime_ns
    generate(tmp_path / "a", from_config("synthetic.yaml", "params", seed=1, seconds=2.0))
    assert (out / "video.mp4").stat().st_mtime_ns == before


def test_clip_shape_and_ground_truth(synthetic_clip: Path) -> None:
    truth = np.load(synthetic_clip / "ground_truth.npz")
    frames = len(truth["mouth_open"])
    assert frames == 100  # 4 s at 25 fps
    assert truth["landmarks"].shape == (frames, 478, 3)
    assert truth["rotation"].shape == (frames, 3, 3)
    assert np.abs(truth["euler_degrees"][:, 0]).max() > 1.0  # the head moves
    audio, rate = sf.read(synthetic_clip / "audio.wav")
    assert rate == 16000 and abs(len(audio) / rate - 4.0) < 0.05


def test_mouth_follows_audio_energy(synthetic_clip: Path) -> None:
    truth = np.load(synthetic_clip / "ground_truth.npz")
    audio, rate = sf.read(synthetic_clip / "audio.wav", dtype="float32")
    energy = np.array(
        [
            np.sqrt(np.mean(audio[int(t * rate / 25) : int((t + 1) * rate / 25)] ** 2))
            for t in range(len(truth["mouth_open"]))
        ]
    )
    assert np.corrcoef(energy, truth["mouth_open"])[0, 1] > 0.7
    silence = np.zeros(rate)
    assert mouth_track(silence, rate, 25.0, 25).max() == 0.0
