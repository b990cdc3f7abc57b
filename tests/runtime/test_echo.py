"""The echo canceller on a simulated room: the avatar's output comes back delayed and quieter into the microphone."""

from __future__ import annotations

import numpy as np
import pytest

from avatarlab.config_args import from_config
from avatarlab.runtime.echo import EchoCanceller

RATE = 16000
CHUNK = 320  # 20 ms
DELAY = 1920  # 120 ms from output to microphone
GAIN = 0.3
SETTLED = round(1.5 * RATE)


def speech_like(samples: int, seed: int) -> np.ndarray:
    """Noise bursts shaped by a syllable-rate envelope (gaps shorter than the canceller's window)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / RATE
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t) + 0.3, 0.0, None) ** 1.5
    return (0.2 * envelope * rng.standard_normal(samples)).astype(np.float32)


def voice(samples: int, seed: int) -> np.ndarray:
    """The user's own speech: harmonics with a slow vibrato and some breath noise, unrelated to the output."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / RATE
    f0 = 160.0 + 20.0 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    tone = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
    return (0.08 * tone + 0.01 * rng.standard_normal(samples)).astype(np.float32)


def delayed(signal: np.ndarray, delay: int) -> np.ndarray:
    return np.concatenate([np.zeros(delay, np.float32), signal[:-delay]])


def run(canceller: EchoCanceller, reference: np.ndarray, mic: np.ndarray) -> np.ndarray:
    """Feed the output and the microphone as a session would (output first), 20 ms at a time; the cleaned mic."""
    out = []
    for start in range(0, len(mic), CHUNK):
        canceller.reference(start, reference[start : start + CHUNK])
        chunk = mic[start : start + CHUNK]
        cleaned = canceller.cancel(start, chunk)
        assert cleaned.dtype == np.float32 and len(cleaned) == len(chunk)
        out.append(cleaned)
    return np.concatenate(out)


def db(x: np.ndarray) -> float:
    return 10 * np.log10(float(np.mean(x.astype(np.float64) ** 2)) + 1e-20)


@pytest.fixture
def canceller() -> EchoCanceller:
    return from_config("serve.yaml", "echo")  # max_delay 0.4 s, window 1 s, adapt every 0.1 s


def test_the_echo_path_is_found_and_the_echo_removed(canceller: EchoCanceller) -> None:
    samples = 3 * RATE
    reference = speech_like(samples, seed=1)
    echo = GAIN * delayed(reference, DELAY)
    noise = 0.001 * np.random.default_rng(2).standard_normal(samples).astype(np.float32)
    cleaned = run(canceller, reference, echo + noise)
    assert canceller.delay is not None and abs(canceller.delay - DELAY) <= 1
    assert canceller.gain == pytest.approx(GAIN, abs=0.03)
    assert canceller.correlation > 0.9
    residual = cleaned[SETTLED:] - noise[SETTLED:]
    assert db(residual) <= db(echo[SETTLED:]) - 20, (db(residual), db(echo[SETTLED:]))
    assert db(cleaned[SETTLED:]) <= db(echo[SETTLED:]) - 20  # what is left is about the room's noise


def test_a_microphone_without_echo_is_left_alone(canceller: EchoCanceller) -> None:
    samples = 3 * RATE
    reference = speech_like(samples, seed=3)
    mic = (0.05 * np.random.default_rng(4).standard_normal(samples)).astype(np.float32)
    cleaned = run(canceller, reference, mic)
    np.testing.assert_array_equal(cleaned, mic)
    assert canceller.delay is None and canceller.gain == 0.0


def test_silent_output_teaches_nothing(canceller: EchoCanceller) -> None:
    samples = 2 * RATE
    mic = (0.05 * np.random.default_rng(5).standard_normal(samples)).astype(np.float32)
    cleaned = run(canceller, np.zeros(samples, np.float32), mic)
    np.testing.assert_array_equal(cleaned, mic)
    assert canceller.delay is None and canceller.gain == 0.0


def test_the_users_voice_over_the_echo_survives(canceller: EchoCanceller) -> None:
    samples = 4 * RATE
    reference = speech_like(samples, seed=6)
    echo = GAIN * delayed(reference, DELAY)
    user = voice(samples, seed=7)
    user[:SETTLED] = 0.0  # the user starts talking once the path is known
    noise = 0.001 * np.random.default_rng(8).standard_normal(samples).astype(np.float32)
    mic = echo + user + noise
    cleaned = run(canceller, reference, mic)
    assert abs(canceller.delay - DELAY) <= 1 and canceller.gain == pytest.approx(GAIN, abs=0.03)
    later = slice(SETTLED + RATE // 2, samples)
    assert np.corrcoef(cleaned[later], user[later])[0, 1] > 0.9
    assert np.corrcoef(mic[later], user[later])[0, 1] < 0.9  # the echo alone would have hidden it that much
    assert db(cleaned[later] - user[later]) <= db(echo[later]) - 20


@pytest.mark.parametrize(
    ("max_delay_s", "window_s", "adapt_s", "min_correlation"),
    [(0.0, 1.0, 0.1, 0.5), (1.0, 1.0, 0.1, 0.5), (1.5, 1.0, 0.1, 0.5), (0.4, 1.0, 0.0, 0.5), (0.4, 1.0, 0.1, 0.0),
     (0.4, 1.0, 0.1, 1.5)],
)  # fmt: skip
def test_bad_settings_are_refused(max_delay_s: float, window_s: float, adapt_s: float, min_correlation: float) -> None:
    with pytest.raises(ValueError, match="max_delay_s"):
        EchoCanceller(max_delay_s, window_s, adapt_s, min_correlation)
