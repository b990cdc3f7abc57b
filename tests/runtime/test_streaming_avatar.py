"""The streaming avatar draws, chunk by chunk, the frames the whole-recording path draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatarlab.runtime.avatar import Avatar
from avatarlab.runtime.streaming_avatar import StreamingAvatar
from avatarlab.spec.stream import AUDIO_RATE


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Bursts of harmonic tone with pauses: loud and quiet stretches for the mel features."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    envelope = (np.sin(2 * np.pi * 3.0 * t) > 0).astype(np.float32)
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140.0, 280.0, 420.0), 1))
    return (0.2 * envelope * voice + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def offline_frames(avatar: Avatar, samples: np.ndarray) -> list[np.ndarray]:
    frames = int(np.ceil(len(samples) / AUDIO_RATE * avatar.spec.fps))
    codes, _ = avatar.codes_from_mel(avatar.mel_from_audio(samples, frames))
    return list(avatar.render_sequence(codes))


@pytest.mark.parametrize("chunk", [160, 1000, 4096])
def test_streamed_frames_match_the_whole_recording(avatar_bundle: Path, chunk: int) -> None:
    avatar = Avatar.from_bundle(avatar_bundle)
    samples = speech_like(0.93)
    expected = offline_frames(avatar, samples)
    stream = StreamingAvatar(avatar)
    got = []
    for start in range(0, len(samples), chunk):
        got += [(f.index, f.time_s, f.image.copy()) for f in stream.push_audio(samples[start : start + chunk])]
    streamed_before_end = len(got)
    got += [(f.index, f.time_s, f.image.copy()) for f in stream.finish()]
    assert [i for i, _, _ in got] == list(range(len(expected)))
    assert [t for _, t, _ in got] == pytest.approx([i / avatar.spec.fps for i in range(len(expected))])
    assert streamed_before_end >= len(expected) - 3  # only the look-ahead waits for the end
    for (_, _, image), want in zip(got, expected, strict=True):
        assert image.dtype == np.uint8 and image.shape == want.shape
        assert np.abs(image.astype(int) - want.astype(int)).max() <= 1


def test_a_frame_waits_only_for_its_look_ahead(avatar_bundle: Path) -> None:
    avatar = Avatar.from_bundle(avatar_bundle)
    stream = StreamingAvatar(avatar)
    assert stream.lookahead_s == pytest.approx((3 * 4 - 1) * 0.01 + 256 / AUDIO_RATE)  # 2 frames + the last row
    samples = speech_like(0.5)
    first_ready = next(i for i in range(1, len(samples)) if list(StreamingAvatar(avatar).push_audio(samples[:i])))
    assert first_ready / AUDIO_RATE == pytest.approx(stream.lookahead_s, abs=1 / AUDIO_RATE)


def test_frames_go_into_the_given_buffer_and_reset_starts_over(avatar_bundle: Path) -> None:
    avatar = Avatar.from_bundle(avatar_bundle)
    size = avatar.spec.size
    buffer = np.zeros((size, size, 3), np.uint8)
    stream = StreamingAvatar(avatar, out=buffer)
    frames = list(stream.push_audio(speech_like(0.4)))
    assert frames and all(f.image is buffer for f in frames)
    stream.reset()
    assert [f.index for f in stream.push_audio(speech_like(0.4))] == [f.index for f in frames]


def test_stereo_input_is_refused(avatar_bundle: Path) -> None:
    stream = StreamingAvatar(Avatar.from_bundle(avatar_bundle))
    with pytest.raises(ValueError, match="mono"):
        list(stream.push_audio(np.zeros((100, 2), np.float32)))
