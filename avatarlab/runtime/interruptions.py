"""User speech heard while the avatar speaks: a backchannel, a false start, a barge-in, or the avatar's own echo.

`InterruptionClassifier.classify(speech, playing, now)` judges one stretch of user speech (from the VAD, with
the words recognised in it so far) against the words the avatar is playing, and returns a `Verdict` with its
reason. All times are session seconds. In order:

1. Echo words: a recognised word that matches a word being played (same word, heard between its start and
   its end plus `echo_delay_s`) is the avatar's own voice; the rest are the user's words.
2. Barge-in, final: a user word outside the backchannel phrases (a content word: "wait", "no", "but"), more
   user words than `max_backchannel_words`, the turn model's p_end and p_stable both at `turn_threshold` or
   above, or `min_barge_in_s` of speech or more (without user words, only when rule 3 finds no echo).
3. Without user words: echo if words matched the playback or the speech's energy envelope tracks the
   playback's (`echo_score >= echo_correlation`, see `envelope_correlation`; off when echo_correlation is None,
   as it is by default: with the echo cancelled, the user's voice over the residual echo tracks the playback too).
4. Backchannel: user words, all from the closed list of backchannel phrases ("mm-hm", "oh okay", "I see").
5. False start, once the speech has ended without a user word: at once if it lasted under `max_false_start_s`
   (a cough, a click), else once `word_wait_s` has passed since its end with no word recognised.
6. Otherwise pending: not enough is known yet.

A verdict is final when later audio cannot change it (a barge-in, or any verdict on speech that has ended and
is not pending). `min_barge_in_s` trades speed for patience: speech that long is a barge-in even if
recognition has not caught up yet, so a backchannel longer than it is taken for one.

`ReplyPlayback` is the reply's playback state: PLAYING; on pending speech DUCKED (or PAUSED); back to RESUMED
on a backchannel, echo or false start; STOPPED on a barge-in, or when a pending state lasts `max_pending_s`;
FINISHED when the reply has played out. Each change is a `Transition` whose time is the decision's, so the
engine can measure detection -> stop.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np

from avatarlab.runtime.conversation import WordTiming

BACKCHANNELS = (
    "mm",
    "mmm",
    "mm hm",
    "mm hmm",
    "mhm",
    "mmhm",
    "mmhmm",
    "hm",
    "hmm",
    "uh huh",
    "uhhuh",
    "yeah",
    "yea",
    "yes",
    "yep",
    "yup",
    "right",
    "alright",
    "all right",
    "okay",
    "ok",
    "oh",
    "ah",
    "aha",
    "oh okay",
    "i see",
    "sure",
    "got it",
    "gotcha",
    "cool",
    "nice",
    "wow",
    "really",
    "true",
    "exactly",
    "indeed",
    "of course",
    "that's right",
    "makes sense",
    "fair enough",
)
ASR_TIME_SLACK_S = 0.1  # how far a recognised word's times may be from the audio's
ECHO_SIMILARITY = 0.8  # difflib ratio from which two spellings are the same word ("gonna" ~ "going" is not)


class Heard(str, Enum):
    BACKCHANNEL = "backchannel"
    FALSE_START = "false_start"
    BARGE_IN = "barge_in"
    ECHO = "echo"
    PENDING = "pending"


class RecognisedWord(Protocol):
    """A word from the recognizer (an asr.AsrWord), times in session seconds."""

    @property
    def text(self) -> str: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


@dataclass(frozen=True)
class HeardSpeech:
    """A stretch of user speech: start (VAD), end (None while it goes on), the words recognised in it, the turn
    model's latest p_end / p_stable for it, how well its energy tracks the playback's (None: unknown), and
    since when it has been quiet while its end is not declared yet (None: the voice goes on)."""

    start: float
    end: float | None
    words: Sequence[RecognisedWord] = ()
    p_end: float | None = None
    p_stable: float | None = None
    echo_score: float | None = None
    quiet_since: float | None = None


@dataclass(frozen=True)
class Verdict:
    """What the speech is, why, whether later audio can still change it, when it was judged, and its words
    (normalised) split into the user's and the avatar's echo."""

    kind: Heard
    reason: str
    final: bool
    t: float
    user_words: tuple[str, ...]
    echo_words: tuple[str, ...]


def tokens(text: str) -> list[str]:
    """Lower-case words of `text`: hyphens split words ("mm-hm" -> "mm", "hm"), other punctuation goes."""
    text = text.lower().replace("\u2019", "'").replace("-", " ")
    return [t.strip("'") for t in re.sub(r"[^\w' ]+", " ", text).split() if t.strip("'")]


def content_words(words: Sequence[str], phrases: Iterable[str]) -> list[str]:
    """The tokens of `words` not covered by the given phrases (matched longest first, left to right)."""
    known = {tuple(tokens(p)) for p in phrases}
    longest = max((len(p) for p in known), default=0)
    content: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            if tuple(words[i : i + n]) in known:
                i += n
                break
        else:
            content.append(words[i])
            i += 1
    return content


def backchannel_only(words: Sequence[str], phrases: Iterable[str]) -> bool:
    """Whether the tokens `words` are a run of the given phrases."""
    return not content_words(words, phrases)


def same_word(a: str, b: str) -> bool:
    """Two spellings of one word (case, punctuation and small recognition differences aside)."""
    a, b = "".join(tokens(a)).replace("'", ""), "".join(tokens(b)).replace("'", "")
    return bool(a) and (a == b or difflib.SequenceMatcher(None, a, b).ratio() >= ECHO_SIMILARITY)


def envelope_correlation(mic: Sequence[float], playback: Sequence[float], max_lag: int) -> float:
    """How well the microphone's energy envelope tracks the playback's: the highest Pearson correlation of the
    two (one value per frame, same frame rate, aligned in time) with the microphone 0..max_lag frames behind.
    0.0 when either is flat or too short."""
    m, p = np.asarray(mic, dtype=np.float64), np.asarray(playback, dtype=np.float64)
    best = 0.0
    for lag in range(max_lag + 1):
        n = min(len(m) - lag, len(p))
        if n < 3:
            break
        a, b = m[lag : lag + n], p[:n]
        if a.std() == 0 or b.std() == 0:
            continue
        best = max(best, float(np.corrcoef(a, b)[0, 1]))
    return best


class InterruptionClassifier:
    """Judges user speech heard during a reply (rules in the module's doc).

    min_barge_in_s: speech this long is a barge-in; max_backchannel_words: more user words are a barge-in;
    max_false_start_s: shorter speech without a word is a false start at its end; word_wait_s: how long after
    longer wordless speech ends to wait for the recognizer; echo_delay_s: the longest delay of the avatar's
    voice coming back into the microphone; echo_correlation: the energy-tracking score from which wordless
    speech is echo (None: the rule is off); turn_threshold: p_end and p_stable from which speech is a turn to
    answer (None: the turn model is not consulted); backchannels: the closed list of backchannel phrases (e.g.
    BACKCHANNELS)."""

    def __init__(
        self,
        min_barge_in_s: float,
        max_backchannel_words: int,
        max_false_start_s: float,
        word_wait_s: float,
        echo_delay_s: float,
        echo_correlation: float | None,
        turn_threshold: float | None,
        backchannels: Iterable[str],
    ) -> None:
        if not 0 < max_false_start_s <= min_barge_in_s:
            raise ValueError("need 0 < max_false_start_s <= min_barge_in_s")
        if max_backchannel_words < 1 or word_wait_s < 0 or echo_delay_s < 0:
            raise ValueError("need max_backchannel_words >= 1, word_wait_s >= 0 and echo_delay_s >= 0")
        if turn_threshold is not None and not 0 < turn_threshold <= 1:
            raise ValueError(f"turn_threshold must be in (0, 1] or None, not {turn_threshold}")
        self.min_barge_in_s = min_barge_in_s
        self.max_backchannel_words = max_backchannel_words
        self.max_false_start_s = max_false_start_s
        self.word_wait_s = word_wait_s
        self.echo_delay_s = echo_delay_s
        self.echo_correlation = echo_correlation
        self.turn_threshold = turn_threshold
        self.backchannels = tuple(backchannels)
        if not self.backchannels:
            raise ValueError("backchannels must name at least one phrase")

    def is_echo(self, word: RecognisedWord, playing: Sequence[WordTiming]) -> bool:
        """`word` matches a word being played, heard while it played or up to echo_delay_s after."""
        for p in playing:
            lo, hi = p.start - ASR_TIME_SLACK_S, p.end + self.echo_delay_s + ASR_TIME_SLACK_S
            if word.end >= lo and word.start <= hi and same_word(word.text, p.word):
                return True
        return False

    def classify(self, speech: HeardSpeech, playing: Sequence[WordTiming], now: float) -> Verdict:
        """The verdict on `speech` at time `now`; `playing`: the avatar's words around the speech."""
        echo: list[str] = []
        user: list[str] = []
        heard: list[str] = []  # every token, in order
        for w in speech.words:
            said = tokens(w.text)
            (echo if self.is_echo(w, playing) else user).extend(said)
            heard.extend(said)
        end = speech.end
        ended = end is not None
        # the voice's length: to its end, or to where it went quiet (the VAD's wait for an end is no speech)
        voice_until = end if end is not None else speech.quiet_since if speech.quiet_since is not None else now
        length = voice_until - speech.start
        tracks = (
            self.echo_correlation is not None
            and speech.echo_score is not None
            and speech.echo_score >= self.echo_correlation
        )

        def verdict(kind: Heard, reason: str, final: bool) -> Verdict:
            return Verdict(kind, reason, final, now, tuple(user), tuple(echo))

        if user:
            content = content_words(user, self.backchannels)
            if content and backchannel_only(heard, self.backchannels):
                content = []  # a phrase the echo match split ("I" taken for the avatar's "I", "see" left)
            if content:
                return verdict(Heard.BARGE_IN, f"content words: {' '.join(content)}", True)
            if len(user) > self.max_backchannel_words:
                return verdict(Heard.BARGE_IN, f"{len(user)} words > {self.max_backchannel_words}", True)
            if self._turn_model_says_turn(speech):
                reason = f"turn model: p_end {speech.p_end:.2f}, p_stable {speech.p_stable:.2f}"
                return verdict(Heard.BARGE_IN, reason, True)
            if length >= self.min_barge_in_s:
                return verdict(Heard.BARGE_IN, f"{length:.2f} s of speech >= {self.min_barge_in_s} s", True)
            return verdict(Heard.BACKCHANNEL, f"backchannel: {' '.join(user)}", ended)
        if echo:
            return verdict(Heard.ECHO, f"the avatar's own words: {' '.join(echo)}", ended)
        if tracks:
            return verdict(Heard.ECHO, f"energy tracks the playback ({speech.echo_score:.2f})", ended)
        if length >= self.min_barge_in_s:
            return verdict(Heard.BARGE_IN, f"{length:.2f} s of speech >= {self.min_barge_in_s} s", True)
        if ended and length < self.max_false_start_s:
            return verdict(Heard.FALSE_START, f"{length:.2f} s without a word (< {self.max_false_start_s} s)", True)
        if end is not None and now - end >= self.word_wait_s:
            return verdict(Heard.FALSE_START, f"no word recognised within {self.word_wait_s} s of its end", True)
        return verdict(Heard.PENDING, "speech so far without a word" if not ended else "waiting for words", False)

    def _turn_model_says_turn(self, speech: HeardSpeech) -> bool:
        if self.turn_threshold is None or speech.p_end is None or speech.p_stable is None:
            return False
        return min(speech.p_end, speech.p_stable) >= self.turn_threshold


class Playback(str, Enum):
    PLAYING = "playing"
    DUCKED = "ducked"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOPPED = "stopped"
    FINISHED = "finished"


AUDIBLE = (Playback.PLAYING, Playback.RESUMED)
HELD = (Playback.DUCKED, Playback.PAUSED)
ENDED = (Playback.STOPPED, Playback.FINISHED)


@dataclass(frozen=True)
class Transition:
    """A change of the reply's playback at time `t` (the decision's), why, and the verdict behind it."""

    t: float
    before: Playback
    after: Playback
    reason: str
    verdict: Verdict | None


class ReplyPlayback:
    """The playback state of one reply, driven by verdicts on the user's speech (thread-safe).

    hold: what pending speech does to the reply, "duck" (lower its volume) or "pause"; max_pending_s: the
    longest it stays held before the reply is stopped."""

    def __init__(self, classifier: InterruptionClassifier, hold: str, max_pending_s: float) -> None:
        if hold not in ("duck", "pause"):
            raise ValueError(f"hold must be 'duck' or 'pause', not {hold!r}")
        if not max_pending_s > 0:
            raise ValueError(f"max_pending_s must be > 0, not {max_pending_s}")
        self.classifier = classifier
        self.hold = Playback.DUCKED if hold == "duck" else Playback.PAUSED
        self.max_pending_s = max_pending_s
        self.state = Playback.PLAYING
        self.transitions: list[Transition] = []
        self.verdicts: list[Verdict] = []
        self.held_since: float | None = None
        self._held_speech: float | None = None  # start of the speech that holds the reply
        self.stopped_at: float | None = None  # time of the stop decision
        self.barge_in_start: float | None = None  # start of the speech that stopped the reply
        self._lock = threading.Lock()

    @property
    def audible(self) -> bool:
        return self.state in AUDIBLE

    def hear(self, speech: HeardSpeech, playing: Sequence[WordTiming], now: float) -> Transition | None:
        """Judge `speech` at `now` and change state accordingly; the change, or None."""
        with self._lock:
            if self.state in ENDED:
                return None
            verdict = self.classifier.classify(speech, playing, now)
            self.verdicts.append(verdict)
            if verdict.kind is Heard.BARGE_IN:
                self.barge_in_start = speech.start
                return self._move(now, Playback.STOPPED, verdict.reason, verdict)
            if verdict.kind is Heard.PENDING:
                if self.state in AUDIBLE:
                    self.held_since, self._held_speech = now, speech.start
                    return self._move(now, self.hold, verdict.reason, verdict)
                return self._timeout(now)
            if self.state in HELD:
                return self._move(now, Playback.RESUMED, verdict.reason, verdict)
            return None

    def tick(self, now: float) -> Transition | None:
        """Stop a reply held for max_pending_s (call it regularly while held)."""
        with self._lock:
            return self._timeout(now)

    def finish(self, t: float) -> Transition | None:
        """The reply has played out."""
        with self._lock:
            if self.state in ENDED:
                return None
            return self._move(t, Playback.FINISHED, "played out", None)

    def _timeout(self, now: float) -> Transition | None:
        if self.state not in HELD or self.held_since is None or now - self.held_since < self.max_pending_s:
            return None
        self.barge_in_start = self._held_speech
        return self._move(now, Playback.STOPPED, f"no verdict within {self.max_pending_s} s", None)

    def _move(self, t: float, after: Playback, reason: str, verdict: Verdict | None) -> Transition:
        change = Transition(t, self.state, after, reason, verdict)
        self.transitions.append(change)
        self.state = after
        if after not in HELD:
            self.held_since = None
        if after is Playback.STOPPED:
            self.stopped_at = t
        return change
