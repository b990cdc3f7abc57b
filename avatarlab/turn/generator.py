"""Generated turns: compose a script from a template family, then speak it with word timings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import librosa
import numpy as np

from avatarlab.turn.format import Turn, Word, normalize_word
from avatarlab.turn.templates import (
    FILLERS,
    GENERIC_ADDITIONS,
    GENERIC_PIVOTS,
    KINDS,
    OPENERS,
    SHARED_SLOTS,
    Family,
)
from avatarlab.turn.tts import EspeakSynthesizer, Voice

_SLOT = re.compile(r"\{(\w+)\}")
_ALT = re.compile(r"\[([^\[\]]*)\]")


@dataclass(kw_only=True)
class ScriptOptions:
    """How turns are composed: ending mix, holds, pauses (seconds); values: configs/turn_corpus.yaml `script`."""

    p_opener: float
    p_addition: float
    p_pivot: float
    p_hold: float
    p_complete_hold: float  # a turn that goes on after a complete sentence holds the floor there (a hold_s pause)
    p_second_ending: float
    hold_s: tuple[float, float]
    comma_gap_s: tuple[float, float]
    sentence_gap_s: tuple[float, float]


@dataclass
class Script:
    """A turn before synthesis: tokens (with punctuation), a gap after each token (None: as spoken)."""

    tokens: list[str]
    gaps: list[float | None]
    pivot_word: int | None
    complete_at: int
    ending: str
    holds: list[int] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


def expand(template: str, slots: dict[str, tuple[str, ...]], rng: np.random.Generator, depth: int = 0) -> str:
    """Fill ``{slot}`` and ``[a|b]`` choices, recursively."""
    if depth > 5:
        raise ValueError(f"template nests too deeply: {template!r}")

    def pick_alt(m: re.Match) -> str:
        options = m.group(1).split("|")
        return options[int(rng.integers(len(options)))]

    def pick_slot(m: re.Match) -> str:
        name = m.group(1)
        pool = slots.get(name) or SHARED_SLOTS.get(name)
        if not pool:
            raise KeyError(f"unknown slot {{{name}}} in {template!r}")
        return expand(pool[int(rng.integers(len(pool)))], slots, rng, depth + 1)

    text = _ALT.sub(pick_alt, template)
    text = _SLOT.sub(pick_slot, text)
    return re.sub(r"\s+", " ", text).strip()


def _choose_phrase(pools: list[dict[str, tuple[str, ...]]], rng: np.random.Generator) -> tuple[str, str]:
    """A (category, phrase) from merged pools: a category uniformly, then a phrase in it."""
    merged: dict[str, list[str]] = {}
    for pool in pools:
        for category, phrases in pool.items():
            merged.setdefault(category, []).extend(phrases)
    categories = sorted(merged)
    category = categories[int(rng.integers(len(categories)))]
    phrases = merged[category]
    return category, phrases[int(rng.integers(len(phrases)))]


def _split_ending(phrase: str) -> tuple[str, list[str]]:
    """An ending's joiner ("," / "." / " ") and its tokens."""
    phrase = phrase.strip("\n")
    joiner = phrase[0] if phrase[:1] in (",", ".") else " "
    return joiner, phrase.lstrip(",. ").split()


def compose(family: Family, rng: np.random.Generator, options: ScriptOptions) -> Script:
    """One turn's script from a family: opener, core (maybe holding the floor), ending."""
    slots = family.slots
    tokens: list[str] = []
    gaps: list[float | None] = []
    holds: list[int] = []

    def add(words: list[str], gap_after_last: float | None = None) -> None:
        for i, w in enumerate(words):
            tokens.append(w)
            gaps.append(gap_after_last if i == len(words) - 1 else None)

    if rng.random() < options.p_opener:
        add(OPENERS[int(rng.integers(len(OPENERS)))].split())
    core = expand(family.cores[int(rng.integers(len(family.cores)))], slots, rng)
    parts = [p.split() for p in core.split("^")]
    hold_at = int(rng.integers(len(parts) - 1)) if len(parts) > 1 and rng.random() < options.p_hold else -1
    for i, part in enumerate(parts):
        add(part)
        if i != hold_at:
            continue
        pause = float(rng.uniform(*options.hold_s))
        filler = FILLERS[int(rng.integers(len(FILLERS)))].split()
        if filler:
            if not tokens[-1].endswith(","):
                tokens[-1] += ","
            if rng.random() < 0.5:  # "word, um, [pause] next"
                add(filler, pause)
                holds.append(len(tokens) - 1)
            else:  # "word, [pause] um, next"
                gaps[-1] = pause
                holds.append(len(tokens) - 1)
                add(filler)
        else:
            if rng.random() < 0.5 and not tokens[-1].endswith(","):
                tokens[-1] += ","
            gaps[-1] = pause
            holds.append(len(tokens) - 1)
    k_core = len(tokens)

    kind_additions = GENERIC_ADDITIONS.get(family.kind, {})
    kind_pivots = GENERIC_PIVOTS.get(family.kind, {})
    question = family.kind == "question"
    r = rng.random()
    pivot_word: int | None = None
    complete_at = k_core
    ending = "none"
    last_joiner = ""
    first_category = ""
    if r < options.p_pivot + options.p_addition:
        is_pivot = r < options.p_pivot
        pools = [family.pivots, kind_pivots] if is_pivot else [family.additions, kind_additions]
        first_category, phrase = _choose_phrase(pools, rng)
        last_joiner, words = _split_ending(expand(phrase, slots, rng))
        _join(tokens, last_joiner, question)
        if options.p_complete_hold > 0 and rng.random() < options.p_complete_hold:  # "...a new car. [pause] No joke."
            gaps[-1] = float(rng.uniform(*options.hold_s))
            holds.append(len(tokens) - 1)
        if is_pivot:
            pivot_word = len(tokens)
        add(words)
        if is_pivot:
            complete_at = len(tokens)
        ending = f"{'pivot' if is_pivot else 'addition'}:{first_category}"
        tags = {c: p for c, p in kind_additions.items() if c != first_category}
        if tags and rng.random() < options.p_second_ending:
            _, tag = _choose_phrase([tags], rng)
            last_joiner, words = _split_ending(expand(tag, slots, rng))
            _join(tokens, last_joiner, question and pivot_word is None)
            add(words)
    final = "?" if question and pivot_word is None and last_joiner != "." else "."
    tokens[-1] = tokens[-1].rstrip(",.?") + final
    gaps[-1] = None
    for i, tok in enumerate(tokens[:-1]):  # pauses at punctuation, unless a hold already set one
        if gaps[i] is None and tok.endswith(","):
            gaps[i] = float(rng.uniform(*options.comma_gap_s))
        elif gaps[i] is None and tok.endswith((".", "?")):
            gaps[i] = float(rng.uniform(*options.sentence_gap_s))
    tokens = [tokens[0][:1].upper() + tokens[0][1:]] + tokens[1:]
    return Script(tokens=tokens, gaps=gaps, pivot_word=pivot_word, complete_at=complete_at, ending=ending, holds=holds)


def _join(tokens: list[str], joiner: str, question: bool) -> None:
    """Punctuate the last token for the next phrase's joiner (a question ends its sentence with "?")."""
    if joiner == ",":
        tokens[-1] = tokens[-1].rstrip(",") + ","
    elif joiner == ".":
        tokens[-1] = tokens[-1].rstrip(",.?") + ("?" if question else ".")


@dataclass(kw_only=True)
class RenderOptions:
    """Audio rendering: output rate, silence before and after, noise and level ranges; values:
    configs/turn_corpus.yaml `render`."""

    sample_rate: int
    lead_s: tuple[float, float]
    tail_s: float
    snr_db: tuple[float, float]
    peak_dbfs: tuple[float, float]
    fade_s: float


def random_voice(rng: np.random.Generator) -> Voice:
    """A voice drawn from espeak-ng's English accents and variants, with rate and pitch."""
    bases = ("en-us", "en-us", "en", "en-gb-x-rp", "en-029", "en-gb-scotland", "en-us-nyc")
    variants = (
        "",
        "",
        "+m1",
        "+m2",
        "+m3",
        "+m4",
        "+m5",
        "+m6",
        "+m7",
        "+f1",
        "+f2",
        "+f3",
        "+f4",
        "+f5",
        "+klatt",
        "+klatt4",
    )
    name = bases[int(rng.integers(len(bases)))] + variants[int(rng.integers(len(variants)))]
    return Voice(
        name=name, rate=int(rng.integers(140, 211)), pitch=int(rng.integers(40, 76)), range=int(rng.integers(30, 86))
    )


def render(
    script: Script, synth: EspeakSynthesizer, voice: Voice, rng: np.random.Generator, options: RenderOptions
) -> tuple[np.ndarray, list[Word]]:
    """Speak a script; reshape its pauses to the script's gaps; add noise. Returns (audio, words)."""
    speech = synth.synthesize(script.tokens, voice)
    rate = speech.sample_rate
    audio = speech.audio
    spans = [(int(round(a * rate)), int(round(b * rate))) for a, b in speech.spans]
    fade = max(1, int(options.fade_s * rate))
    pieces: list[np.ndarray] = [np.zeros(int(rng.uniform(*options.lead_s) * rate), np.float32)]
    cursor = len(pieces[0])
    times: list[tuple[float, float]] = []
    for i, (a, b) in enumerate(spans):
        segment = audio[a:b].copy()
        replaced_before = i > 0 and script.gaps[i - 1] is not None
        replaced_after = i < len(spans) - 1 and script.gaps[i] is not None
        if replaced_before:
            _fade(segment, fade, head=True)
        if replaced_after or i == len(spans) - 1:
            _fade(segment, fade, head=False)
        times.append((cursor / rate, (cursor + len(segment)) / rate))
        pieces.append(segment)
        cursor += len(segment)
        if i == len(spans) - 1:
            break
        if script.gaps[i] is not None:
            gap = np.zeros(int(script.gaps[i] * rate), np.float32)
        else:
            gap = audio[b : spans[i + 1][0]]
        pieces.append(gap)
        cursor += len(gap)
    pieces.append(np.zeros(int(options.tail_s * rate), np.float32))
    speech_audio = np.concatenate(pieces)
    out = librosa.resample(speech_audio, orig_sr=rate, target_sr=options.sample_rate, res_type="soxr_hq").astype(
        np.float32
    )
    peak = float(np.abs(out).max()) or 1.0
    out *= 10 ** (rng.uniform(*options.peak_dbfs) / 20) / peak
    voiced = np.concatenate([out[int(s * options.sample_rate) : int(e * options.sample_rate)] for s, e in times])
    speech_rms = float(np.sqrt(np.mean(voiced**2))) if len(voiced) else 0.1
    noise = rng.standard_normal(len(out)).astype(np.float32)
    alpha = float(rng.uniform(0.0, 0.95))  # one-pole low-pass: from white to rumbling noise
    if alpha > 0:
        noise = _one_pole(noise, alpha)
    noise *= speech_rms * 10 ** (-rng.uniform(*options.snr_db) / 20) / (float(np.sqrt(np.mean(noise**2))) + 1e-12)
    out = np.clip(out + noise, -1.0, 1.0)
    words = [Word(normalize_word(t) or t, round(s, 4), round(e, 4)) for t, (s, e) in zip(script.tokens, times)]
    return out, words


def _fade(segment: np.ndarray, n: int, head: bool) -> None:
    n = min(n, len(segment) // 2)
    if n <= 0:
        return
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n, dtype=np.float32))
    if head:
        segment[:n] *= ramp
    else:
        segment[-n:] *= ramp[::-1]


def _one_pole(x: np.ndarray, alpha: float) -> np.ndarray:
    from scipy.signal import lfilter

    return lfilter([1.0 - alpha], [1.0, -alpha], x).astype(np.float32)


def make_turn(
    turn_id: str,
    family: Family,
    split: str,
    rng: np.random.Generator,
    synth: EspeakSynthesizer,
    script_options: ScriptOptions,
    render_options: RenderOptions,
) -> tuple[Turn, np.ndarray]:
    """Compose, voice and render one turn; returns the Turn (audio path unset) and its samples."""
    if family.kind not in KINDS:
        raise ValueError(f"family {family.name} has unknown kind {family.kind}")
    script = compose(family, rng, script_options)
    voice = random_voice(rng)
    audio, words = render(script, synth, voice, rng, render_options)
    turn = Turn(
        id=turn_id,
        words=words,
        end=words[-1].end,
        pivot_word=script.pivot_word,
        complete_at=script.complete_at,
        text=script.text,
        family=family.name,
        kind=family.kind,
        ending=script.ending,
        split=split,
        extra={"voice": voice.name, "rate": voice.rate, "holds": script.holds},
    )
    return turn, audio
