"""Streaming speech recognition: 16 kHz float32 chunks in, partial and final words with stream times out.

A faster-whisper model (the bundled tiny.en, or any CTranslate2 Whisper directory by path) re-reads a
short window every `step_s`: the audio from a little before the last confirmed words to now. Words
already confirmed inside the window are forced as the decoder's prefix, so each step decodes only what
is new (bounded by the new audio's duration), and earlier confirmed text is the prompt. A word becomes
final when two successive windows agree on it (LocalAgreement-2); the rest of the latest hypothesis is
the partial. The window is cut at a confirmed word's end, keeping `keep_s` of confirmed audio as
acoustic context. `flush()` (the VAD's end of speech) decodes the remainder once more and makes it final.

One recognizer is one stream: times are seconds of audio accepted since the last reset().
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatarlab.runtime.audio_input import mono_chunk
from avatarlab.runtime.whisper_window import WhisperWindow, WindowWord, bundled_whisper_dir, load_whisper
from avatarlab.spec.stream import AUDIO_RATE
from avatarlab.turn.format import normalize_word

LOOP_PERIODS = (1, 2, 3, 4)  # word-loop lengths cut from a hypothesis ("no no no", "asked and asked and")
LOOKBACK_WORDS = 8  # final words checked with a hypothesis for loops across the boundary
PILE_S = 0.02  # one alignment step: words this short have no audio of their own


@dataclass(frozen=True)
class AsrWord:
    """A recognised word (punctuation kept) and its times in stream seconds."""

    text: str
    start: float
    end: float
    final: bool
    probability: float


@dataclass(frozen=True)
class AsrUpdate:
    """One decoding step's result, made once `t` seconds of audio had been accepted.

    final:   words confirmed by this step, in order; never revised.
    partial: the unconfirmed words after every final word so far; replaces the previous update's partial."""

    t: float
    final: list[AsrWord]
    partial: list[AsrWord]


@dataclass(frozen=True)
class _Word:
    """A hypothesis word in stream seconds, with the tokens that force it as a prefix."""

    text: str
    tokens: tuple[int, ...]
    start: float
    end: float
    probability: float

    @property
    def norm(self) -> str:
        return normalize_word(self.text)

    def event(self, final: bool) -> AsrWord:
        return AsrWord(self.text.strip(), self.start, self.end, final, self.probability)


def cut_piles(words: list[_Word]) -> list[_Word]:
    """`words` up to the first two in a row that alignment piles onto one instant: text the audio does not
    hold (a hallucinated run, or final words said again)."""
    for i in range(len(words) - 1):
        if words[i].end - words[i].start <= PILE_S and words[i + 1].end - words[i + 1].start <= PILE_S:
            return words[:i]
    return words


def cut_loops(words: list[_Word], before: list[_Word]) -> list[_Word]:
    """`words` up to the start of a repetition loop: a word said a third time in a row, or a 2-4 word
    phrase said twice in a row; `before` (the last final words) counts for loops that cross into `words`."""
    norms = [w.norm for w in before + words]
    offset = len(before)
    for i in range(offset, len(norms)):
        for p in LOOP_PERIODS:
            times = 3 if p == 1 else 2
            first = i - (times - 1) * p - p + 1  # start of the first occurrence ending at i
            if first < 0:
                continue
            grams = [tuple(norms[first + k * p : first + (k + 1) * p]) for k in range(times)]
            if all(g == grams[0] for g in grams) and all(grams[0]):
                return words[: max(first + (times - 1) * p - offset, 0)]
    return words


class StreamingASR:
    """accept() audio as it arrives, flush() at each end of speech, reset() for a new stream."""

    def __init__(
        self,
        model_dir: str | None,
        compute_type: str,
        intra_threads: int,
        step_s: float,
        min_window_s: float,
        max_window_s: float,
        keep_s: float,
        end_guard_s: float,
        context_words: int,
        max_tokens_per_s: float,
        no_repeat_ngram_size: int,
        no_speech_threshold: float,
        flush_pad_s: float,
    ) -> None:
        if not (step_s > 0 and min_window_s > 0 and 0 <= keep_s < max_window_s <= 30):
            raise ValueError("need step_s > 0, min_window_s > 0 and keep_s < max_window_s <= 30")
        model = load_whisper(model_dir or bundled_whisper_dir(), compute_type, intra_threads)
        self.window = WhisperWindow(model, max_tokens_per_s, no_repeat_ngram_size)
        self.step = round(step_s * AUDIO_RATE)
        self.min_window = round(min_window_s * AUDIO_RATE)
        self.max_window = round(max_window_s * AUDIO_RATE)
        self.keep_s = keep_s
        self.end_guard_s = end_guard_s
        self.context_words = context_words
        self.no_speech_threshold = no_speech_threshold
        self.flush_pad = np.zeros(round(flush_pad_s * AUDIO_RATE), np.float32)
        self.reset()

    @property
    def model(self):  # type: ignore[no-untyped-def]
        """The faster_whisper.WhisperModel (for a whole-file transcribe() with the same weights)."""
        return self.window.model

    def reset(self) -> None:
        """A new stream: no audio, no words, time back to 0."""
        self._audio = np.zeros(0, np.float32)  # the window: samples from self._start on
        self._start = 0  # stream sample of self._audio[0]
        self._decoded_at = 0  # stream samples heard at the last decoding step
        self._inside: list[_Word] = []  # final words inside the window (the decoder's forced prefix)
        self._previous: list[_Word] = []  # the last step's unconfirmed words
        self._finals: list[_Word] = []  # the last final words (context and loop checks)
        self._context: list[int] = []  # tokens of final words before the window (the prompt)

    @property
    def time(self) -> float:
        """Stream seconds accepted so far."""
        return (self._start + len(self._audio)) / AUDIO_RATE

    @property
    def window_s(self) -> float:
        """Seconds of audio the next decoding step reads."""
        return len(self._audio) / AUDIO_RATE

    def accept(self, samples: np.ndarray) -> AsrUpdate | None:
        """Add audio; decode when `step_s` of it has arrived since the last step (one step per call, however
        long the chunk: a caller that falls behind passes its whole backlog at once; beyond max_window_s,
        the oldest of it is dropped)."""
        self._audio = np.concatenate([self._audio, mono_chunk(samples, "StreamingASR")])
        heard = self._start + len(self._audio)
        self._cut(heard - self.max_window)
        if heard - self._decoded_at < self.step or len(self._audio) < self.min_window:
            return None
        return self._step(final=False)

    def flush(self) -> AsrUpdate:
        """End of speech: every word still unconfirmed becomes final; the window restarts empty at now."""
        update = self._step(final=True) if self._new_audio() > 0 else AsrUpdate(self.time, [], [])
        end = self._start + len(self._audio)
        self._context = self._context_tokens(self._inside)
        self._audio, self._start, self._inside, self._previous = np.zeros(0, np.float32), end, [], []
        self._decoded_at = end
        return update

    def skip(self, samples: int) -> None:
        """Let `samples` of audio pass unheard (silence between speech, the VAD says): stream time moves on at no
        cost; the words so far stay final and remain the prompt. Only between flush() and the next accept()."""
        if len(self._audio):
            raise RuntimeError("skip() only between flush() and the next accept(): the window still holds audio")
        if samples < 0:
            raise ValueError(f"cannot skip {samples} samples")
        self._start += samples
        self._decoded_at = self._start

    def _new_audio(self) -> float:
        """Seconds of window audio after the last final word inside it."""
        since = self._inside[-1].end if self._inside else self._start / AUDIO_RATE
        return self.time - since

    def _context_tokens(self, leaving: list[_Word]) -> list[int]:
        """The prompt after `leaving` (final words) moved out of the window: the last context_words words."""
        kept = self._context + [t for w in leaving for t in w.tokens]
        words = [i for i, t in enumerate(kept) if self.window.tokenizer.decode([t]).startswith(" ")]
        cut = words[-self.context_words] if len(words) > self.context_words else 0
        return kept[cut:]

    def _hypothesis(self, final: bool) -> list[_Word]:
        """The words after the final ones, in stream seconds, loops cut, times kept in order and in the window."""
        offset = self._start / AUDIO_RATE
        audio = np.concatenate([self._audio, self.flush_pad]) if final else self._audio
        prefix = [WindowWord(w.text, w.tokens, w.start - offset, w.end - offset, w.probability) for w in self._inside]
        result = self.window(audio, self._context, prefix, self._new_audio())
        if result.no_speech_prob > self.no_speech_threshold:
            return []
        words, floor, now = [], self._finals[-1].end if self._finals else 0.0, self.time
        for w in result.words:
            start = min(max(offset + w.start, floor), now)
            end = min(max(offset + w.end, start), now)
            words.append(_Word(w.text, w.tokens, start, end, w.probability))
            floor = end
        return cut_loops(cut_piles(words), self._finals[-LOOKBACK_WORDS:])

    def _step(self, final: bool) -> AsrUpdate:
        self._decoded_at = self._start + len(self._audio)
        hypothesis = self._hypothesis(final)
        agreed = len(hypothesis) if final else _common_prefix(hypothesis, self._previous)
        while agreed and not final and hypothesis[agreed - 1].end > self.time - self.end_guard_s:
            agreed -= 1  # a word aligned to the window's very end may be cut short, or not said at all
        confirmed, self._previous = hypothesis[:agreed], hypothesis[agreed:]
        if not final and not confirmed and len(self._audio) >= self.max_window:
            confirmed = [w for w in hypothesis if w.end <= self.time - self.keep_s]  # a window that never agrees
            self._previous = hypothesis[len(confirmed) :]
        self._inside += confirmed
        self._finals = (self._finals + confirmed)[-LOOKBACK_WORDS:]
        self._trim(heard_words=bool(hypothesis))
        return AsrUpdate(self.time, [w.event(True) for w in confirmed], [w.event(False) for w in self._previous])

    def _trim(self, heard_words: bool) -> None:
        """Cut the window at a final word's end, keeping `keep_s` of final audio before the unconfirmed part;
        with no words heard for more than `keep_s` after the last final word (a pause, or a forced prefix the
        decoder cannot continue), cut at that word's end (the prefix goes), then keep only the last `keep_s`;
        never longer than max_window."""
        cut = self._start
        if not heard_words and self._new_audio() > self.keep_s:
            end = self._start + len(self._audio)
            cut = round(self._inside[-1].end * AUDIO_RATE) if self._inside else end - round(self.keep_s * AUDIO_RATE)
        elif self._inside:
            last = self._inside[-1].end
            leaving = [w for w in self._inside if w.end <= last - self.keep_s]
            if leaving:
                cut = round(leaving[-1].end * AUDIO_RATE)
        self._cut(max(cut, self._start + len(self._audio) - self.max_window))

    def _cut(self, cut: int) -> None:
        """Drop the window's audio before stream sample `cut`; final words that end by then become context."""
        if cut <= self._start:
            return
        self._audio = self._audio[cut - self._start :]
        self._start = cut
        leaving = [w for w in self._inside if round(w.end * AUDIO_RATE) <= cut]
        self._context = self._context_tokens(leaving)
        self._inside = self._inside[len(leaving) :]


def _common_prefix(a: list[_Word], b: list[_Word]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n].norm == b[n].norm:
        n += 1
    return n
