"""The evaluation's readings on a real speaker (../shared/data/hdtf_katie_8s.mp4 prepared at 128 px).

The robust lip-sync reading compares the mouth's movement with the real video's under the same audio: a
1 px blur or a JPEG round trip of the frames moves it by at most 0.05, on the real frames and on frames
that look rendered; pairing the frames with audio shifted by 200 ms, or with another sentence's audio
(the real mouth under that audio as the reference), at least halves it.
"""

from __future__ import annotations

import numpy as np
import pytest

from avatarlab.data.subject import Subject
from avatarlab.metrics.artifacts import artifact_ratio
from avatarlab.metrics.heldout import held_out_figures
from avatarlab.metrics.lipsync import audio_envelope, lip_sync_robust
from tests.helpers.degrade import blur, jpeg, render_like, salt

pytestmark = pytest.mark.shared_data

SHIFT = 5  # 200 ms at 25 fps


@pytest.fixture(scope="module")
def clip(real_clip: Subject) -> tuple[np.ndarray, np.ndarray]:
    """The clip's frames [200, 128, 128, 3] and the landmarks tracked on them [200, 478, 3]."""
    return np.asarray(real_clip.frames), real_clip.landmarks


def test_an_eight_second_clip_holds_out_its_last_two_seconds(real_clip: Subject) -> None:
    assert real_clip.num_frames == 200
    assert list(real_clip.val_frames) == list(range(150, 200)) and list(real_clip.train_frames) == list(range(150))


@pytest.mark.parametrize("start", [100, 150])  # a stretch in the middle, the held-out frames
def test_robust_lip_sync_ignores_blur_and_compression(clip: tuple, start: int) -> None:
    frames, landmarks = clip
    real, points = frames[start : start + 50], landmarks[start : start + 50]
    rendered = render_like(real)
    assert lip_sync_robust(real, real, points) == pytest.approx(1.0)
    reading = lip_sync_robust(rendered, real, points)
    assert reading > 0.8
    for degrade in (blur, jpeg):
        assert abs(lip_sync_robust(degrade(real), real, points) - 1.0) <= 0.05
        assert abs(lip_sync_robust(degrade(rendered), real, points) - reading) <= 0.05


@pytest.mark.parametrize("start", [100, 150])
def test_robust_lip_sync_halves_for_shifted_or_other_audio(clip: tuple, start: int) -> None:
    frames, landmarks = clip
    window = slice(start, start + 50)
    real = frames[window]
    others = [slice(start + s, start + s + 50) for s in (-SHIFT, SHIFT) if start + s + 50 <= len(frames)]
    others.append(slice(0, 50))  # the first sentence of the clip
    for judged in (real, render_like(real)):
        reading = lip_sync_robust(judged, real, landmarks[window])
        for other in others:
            assert lip_sync_robust(judged, frames[other], landmarks[other]) <= reading / 2


def test_artifact_ratio_on_real_skin(clip: tuple) -> None:
    frames, landmarks = clip
    real, points = frames[150:], landmarks[150:]
    assert artifact_ratio(real, real, points) == 1.0
    assert artifact_ratio(salt(real), real, points) > 1.2
    assert artifact_ratio(blur(real), real, points) < 0.8


def test_held_out_figures_come_with_intervals(real_clip: Subject, clip: tuple) -> None:
    frames, landmarks = clip
    held = real_clip.val_frames
    real = frames[held]
    samples, rate = real_clip.audio()
    envelope = audio_envelope(samples[int(held[0] / real_clip.fps * rate) :], rate, len(held), real_clip.fps)
    renders = {"tracked": real, "audio": render_like(real)}
    figures = held_out_figures(real, renders, landmarks[held], envelope, "tracked")
    assert figures["lip_sync_robust_tracked"] == pytest.approx(1.0) and figures["artifact_ratio"] == 1.0
    assert 0.8 < figures["lip_sync_robust_audio"] < 1.0 and figures["artifact_ratio_audio"] > 1.2
    assert figures["lmd_tracked"] == 0.0 and figures["psnr_audio"] < figures["psnr"]
    assert figures["lpips_audio"].startswith("skipped")
    numeric = [k for k, v in figures.items() if isinstance(v, float) and np.isfinite(v) and not k.endswith("_ci95")]
    assert {"lip_sync_real", "lip_sync_dark_ratio", "detected_audio", "ssim_audio"} <= set(numeric)
    for key in numeric:
        low, high = figures[f"{key}_ci95"]
        assert low <= high
        if not key.startswith("lip_sync"):  # a mean over frames lies within its interval
            assert low - 1e-9 <= figures[key] <= high + 1e-9, key
