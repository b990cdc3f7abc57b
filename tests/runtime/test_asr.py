"""The streaming recognizer against the real bundled Whisper tiny.en: real recordings in 100 ms chunks
against a whole-file transcription, espeak speech ended by the real VAD, silence, chunking, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avatarlab.config_args import config_args, from_config
from avatarlab.data.speech import synthesize
from avatarlab.metrics.wer import word_error_rate, words_of
from avatarlab.runtime.asr import AsrUpdate, AsrWord, StreamingASR, _Word, cut_loops, cut_piles
from avatarlab.runtime.whisper_window import bundled_whisper_dir

RATE = 16000
CHUNK = 1600  # 100 ms
CONFIG = "serve/asr/whisper.yaml"
# Measured with the config's values (greedy decoding is deterministic): WER against a whole-file greedy
# transcribe() 0.08 on speech_radio31_8s, 0.00 on speech_radio34_8s (0.12 on speech_english_60s, in
# scripts/bench_asr.py); 0.00 against the text espeak spoke.
WER_BOUND = 0.2
SENTENCE = "I was thinking about going to the park this afternoon, but it looks like it might rain."


@pytest.fixture(scope="module")
def asr() -> StreamingASR:
    return from_config(CONFIG)


def stream(asr: StreamingASR, audio: np.ndarray, chunk: int = CHUNK) -> tuple[list[AsrWord], list[AsrUpdate], float]:
    """All final words (the flush's last), the updates before the flush, and the longest window read."""
    asr.reset()
    updates, longest = [], 0.0
    for i in range(0, len(audio), chunk):
        update = asr.accept(audio[i : i + chunk])
        longest = max(longest, asr.window_s)
        if update is not None:
            updates.append(update)
    finals = [w for u in updates for w in u.final] + asr.flush().final
    return finals, updates, longest


def mono(path: Path) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32")
    assert rate == RATE
    return audio.mean(axis=1).astype(np.float32) if audio.ndim == 2 else audio


def check_words(finals: list[AsrWord], duration: float) -> None:
    """Final, in order, inside the audio, and no word three times in a row."""
    assert finals and all(w.final and w.text for w in finals)
    assert all(0.0 <= w.start <= w.end <= duration for w in finals)
    for a, b in zip(finals, finals[1:]):
        assert a.end <= b.start + 1e-6, (a, b)
    norms = words_of([w.text for w in finals])
    loops = [norms[i : i + 3] for i in range(len(norms) - 2) if norms[i] == norms[i + 1] == norms[i + 2]]
    assert not loops, loops


def test_the_config_sets_every_argument() -> None:
    assert {"model_dir", "intra_threads", "step_s", "max_tokens_per_s", "no_repeat_ngram_size"} <= set(
        config_args(CONFIG)
    )


@pytest.mark.parametrize("name", ["speech_radio31_8s.wav", "speech_radio34_8s.wav"])
def test_streamed_words_match_a_whole_file_transcription(asr: StreamingASR, shared_data: Path, name: str) -> None:
    audio = mono(shared_data / name)
    segments, _ = asr.model.transcribe(audio, beam_size=1, language="en")
    reference = " ".join(s.text for s in segments)
    finals, updates, longest = stream(asr, audio)
    wer = word_error_rate(reference, [w.text for w in finals])
    assert wer < WER_BOUND, (wer, reference, " ".join(w.text for w in finals))
    check_words(finals, len(audio) / RATE)
    assert next(u.t for u in updates if u.partial) < 1.5  # partials from the first second of speech on
    assert sum(len(u.final) for u in updates) >= 0.7 * len(finals)  # most words final before the flush
    assert all(u.t - w.end < 1.5 for u in updates for w in u.final)  # none waits long (measured: 0.74 s at most)
    assert longest <= asr.max_window / RATE + CHUNK / RATE


def test_the_end_of_speech_finalises_the_words_at_once(asr: StreamingASR) -> None:
    """espeak speech then silence, through the real VAD: at its end event, flush() makes every word final."""
    speech = synthesize(SENTENCE, rate=RATE)
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), speech, np.zeros(RATE, np.float32)])
    vad = from_config("serve/vad/silero.yaml")
    asr.reset()
    finals: list[AsrWord] = []
    flushed_at = None
    for i in range(0, len(audio), CHUNK):
        chunk = audio[i : i + CHUNK]
        update = asr.accept(chunk)
        finals += update.final if update else []
        if any(e.kind == "end" for e in vad.accept(chunk).events) and flushed_at is None:
            finals += asr.flush().final
            flushed_at = asr.time
    assert flushed_at is not None and flushed_at < 0.5 + len(speech) / RATE + 0.6
    assert word_error_rate(SENTENCE, [w.text for w in finals]) < WER_BOUND
    check_words(finals, len(audio) / RATE)


def test_chunk_size_does_not_change_the_words(asr: StreamingASR) -> None:
    """Decoding steps fall on the same samples for any chunk that divides step_s: 10 ms chunks = 100 ms chunks."""
    audio = synthesize("Could you book a table for two at seven tonight?", rate=RATE)
    coarse, _, _ = stream(asr, audio, CHUNK)
    fine, _, _ = stream(asr, audio, CHUNK // 10)
    assert fine == coarse


def test_silence_and_faint_noise_give_no_words(asr: StreamingASR) -> None:
    noise = (np.random.default_rng(0).standard_normal(3 * RATE) * 0.003).astype(np.float32)
    for audio in (np.zeros(3 * RATE, np.float32), noise):
        finals, updates, longest = stream(asr, audio)
        assert finals == [] and all(not u.partial for u in updates)
        assert longest <= 2.0  # a window with nothing in it is kept short


def test_bad_input_is_refused_clearly(asr: StreamingASR, tmp_path: Path) -> None:
    asr.reset()
    with pytest.raises(ValueError, match="mono"):
        asr.accept(np.zeros((CHUNK, 2), np.float32))
    with pytest.raises(ValueError, match="float32"):
        asr.accept(np.zeros(CHUNK, np.int16))
    with pytest.raises(ValueError, match="float32"):
        asr.accept(np.zeros(CHUNK, np.float64))
    assert asr.time == 0.0  # refused audio is not kept
    with pytest.raises(ValueError, match="model.bin"):
        StreamingASR(**config_args(CONFIG, model_dir=str(tmp_path)))


def test_repetition_loops_and_piled_words_are_cut() -> None:
    def words(text: str, spans: list[tuple[float, float]] | None = None) -> list[_Word]:
        spans = spans or [(i * 0.3, i * 0.3 + 0.25) for i in range(len(text.split()))]
        return [_Word(" " + t, (), s, e, 1.0) for t, (s, e) in zip(text.split(), spans)]

    def text(ws: list[_Word]) -> str:
        return " ".join(w.text.strip() for w in ws)

    assert text(cut_loops(words("asked and asked and asked"), [])) == "asked and"
    assert text(cut_loops(words("no no no no"), [])) == "no no"
    assert text(cut_loops(words("no more"), words("oh no no"))) == ""  # the loop crosses into the new words
    assert text(cut_loops(words("that that is fine"), [])) == "that that is fine"
    piled = words("the end run around", [(0.0, 0.2), (0.2, 0.4), (0.4, 0.4), (0.4, 0.4)])
    assert text(cut_piles(piled)) == "the end"


def test_a_model_directory_given_by_path_loads() -> None:
    asr = StreamingASR(**config_args(CONFIG, model_dir=bundled_whisper_dir()))
    assert asr.model.model.is_multilingual is False and asr.time == 0.0


def test_skip_lets_silence_pass_without_decoding(asr: StreamingASR, monkeypatch: pytest.MonkeyPatch) -> None:
    """After flush(), skip() moves stream time on at no decode; the next words are timed after the skipped span."""
    decodes: list[float] = []

    class Counted:
        """The real decoding window, counting its calls."""

        def __init__(self, window: object) -> None:
            self.real = window

        def __call__(self, audio: np.ndarray, *args: object) -> object:
            decodes.append(len(audio) / RATE)
            return self.real(audio, *args)

        def __getattr__(self, name: str) -> object:
            return getattr(self.real, name)

    monkeypatch.setattr(asr, "window", Counted(asr.window))
    first = synthesize("Could you book a table for two?", rate=RATE)
    second = synthesize("That would be perfect, thank you very much.", rate=RATE)
    finals, _, _ = stream(asr, first)  # ends with flush()
    assert finals and decodes
    before, decoded = asr.time, len(decodes)
    asr.skip(RATE)
    assert asr.time == pytest.approx(before + 1.0) and asr.window_s == 0.0
    assert len(decodes) == decoded  # no decoding for the skipped second
    assert asr.accept(second[:CHUNK]) is None  # 100 ms since the skip: less than a step, still no decoding
    assert len(decodes) == decoded
    later = [w for i in range(CHUNK, len(second), CHUNK) if (u := asr.accept(second[i : i + CHUNK])) for w in u.final]
    later += asr.flush().final
    assert word_error_rate("That would be perfect, thank you very much.", [w.text for w in later]) < WER_BOUND
    assert all(w.start >= before + 1.0 - 0.05 for w in later), (before, later)  # timed in stream seconds
    assert later[-1].end <= before + 1.0 + len(second) / RATE + 1e-6

    at = asr.time
    asr.accept(np.zeros(CHUNK, np.float32))
    with pytest.raises(RuntimeError, match="still holds audio"):
        asr.skip(RATE)
    assert asr.time == pytest.approx(at + CHUNK / RATE)  # refused: time did not move
    asr.flush()
    with pytest.raises(ValueError, match="cannot skip -1"):
        asr.skip(-1)
