"""The listening side of the loop: microphone audio in; voice activity, words, and the turn decisions out.

Per chunk: the VAD scores it; the recognizer hears the speech (from a little before each VAD start to its end,
where it is flushed; the silence between is skipped at no cost, so recognizer time stays microphone time);
while a user turn is open, the turn predictor gets its audio and final words and the response policy steps
once per chunk: DRAFT / DISCARD / COMMIT go to the handler (the engine). While the avatar speaks, the speech
is not a turn to answer yet: the handler judges it (backchannel, echo, false start or barge-in) and the policy
waits until it is a barge-in.

A turn opens at a VAD start, `turn_preroll_s` before it; it closes at COMMIT, or is dropped (no words by
`max_wordless_s` after its speech ended; or judged not a turn while the avatar spoke). Speech still going on
`continue_s` after a COMMIT (longer than the VAD's own hang-over) opens a new turn from the commit, judged
against the reply just committed: a user who was not done barges in on it. With `pause_draft_s`, a pause
that long also starts a draft for every word so far (besides the policy's own drafts). Words the handler
says are the avatar's own voice (its echo) never enter a turn. Times are microphone seconds, which the
handler maps to session time (`origin`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from avatarlab.runtime.asr import AsrWord, StreamingASR
from avatarlab.runtime.audio_input import mono_chunk
from avatarlab.runtime.response_policy import Action, Decision, Policy
from avatarlab.runtime.sample_ring import SampleRing
from avatarlab.runtime.timeline import CpuMeter, Timeline
from avatarlab.runtime.turn_predictor import Prediction, TurnPredictor
from avatarlab.runtime.vad import SileroVAD
from avatarlab.spec.stream import AUDIO_RATE


@dataclass
class OpenTurn:
    """The user turn being heard. start: the predictor's time 0 (microphone seconds); speech: VAD runs
    [(start, end or None)]; words: its final words (microphone seconds), heard: those and the words taken for the
    avatar's echo, in order (an echo match can split a phrase: "I see" over the avatar's "I"); reply: the reply the
    avatar was playing when it began (None: the avatar was silent); barge_in: judged an interruption of that reply;
    quiet_since: the voice went quiet then and the VAD waits to declare an end (None: it goes on, or no speech is
    open)."""

    start: float
    speech: list[list[float | None]]
    words: list[AsrWord] = field(default_factory=list)
    heard: list[AsrWord] = field(default_factory=list)
    reply: int | None = None
    barge_in: bool = False
    last: Prediction | None = None
    quiet_since: float | None = None

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def prefix(self, n: int) -> str:
        return " ".join(w.text for w in self.words[:n])

    @property
    def speaking(self) -> bool:
        return bool(self.speech) and self.speech[-1][1] is None

    @property
    def speech_end(self) -> float | None:
        return None if not self.speech else self.speech[-1][1]


class TurnHandler(Protocol):
    """What the listener calls (the engine); every time is microphone seconds."""

    def avatar_reply(self) -> int | None:
        """The reply the avatar is playing (audible or held) or about to play, or None."""

    def is_echo(self, word: AsrWord) -> bool:
        """Whether a recognised word is the avatar's own voice coming back."""

    def judge(self, turn: OpenTurn, now: float) -> str:
        """Speech heard while reply `turn.reply` plays: "barge_in", "pending", or a final verdict that it is not
        a turn ("backchannel", "echo", "false_start")."""

    def decide(self, decision: Decision, turn: OpenTurn) -> int | None:
        """A DRAFT, DISCARD or COMMIT of the policy for `turn`; on COMMIT, the reply's id."""

    def turn_dropped(self, turn: OpenTurn, reason: str, now: float) -> None: ...

    def pausing(self, paused: bool) -> None:
        """The user of the open turn has paused after a word (True), or speaks again or the turn closed (False)."""


class Listener:
    """One microphone stream (see the module's doc). `hear()` from one thread at a time."""

    def __init__(
        self,
        vad: SileroVAD,
        asr: StreamingASR,
        predictor: TurnPredictor,
        policy: Policy,
        handler: TurnHandler,
        timeline: Timeline,
        meter: CpuMeter,
        origin: float,
        turn_preroll_s: float,
        asr_preroll_s: float,
        max_wordless_s: float,
        continue_s: float,
        pause_draft_s: float | None,
    ) -> None:
        self.vad, self.asr, self.predictor, self.policy = vad, asr, predictor, policy
        self.handler, self.timeline, self.meter = handler, timeline, meter
        self.origin = origin  # session seconds of microphone time 0
        self.turn_preroll = round(turn_preroll_s * AUDIO_RATE)
        self.asr_preroll = round(asr_preroll_s * AUDIO_RATE)
        self.max_wordless_s = max_wordless_s
        self.continue_s = continue_s
        self.pause_draft_s = pause_draft_s
        self._pause_drafted: int | None = None  # words of the last pause draft
        self._paused = False
        self._continuation: tuple[float, int | None] | None = None  # (commit time, reply) while speech goes on
        keep = max(self.turn_preroll, self.asr_preroll) + round(0.5 * AUDIO_RATE)
        self._recent = SampleRing(keep)  # the last `keep` samples: the pre-rolls come from here
        self._heard = 0  # microphone samples so far
        self._asr_at = 0  # microphone sample the recognizer has reached
        self._asr_open = False  # between a VAD start and its flush
        self.turn: OpenTurn | None = None
        self.word_delays: list[tuple[str, float, float]] = []  # (word, its end, seconds until it was known)
        self._lock = threading.Lock()

    @property
    def time(self) -> float:
        """Microphone seconds heard."""
        return self._heard / AUDIO_RATE

    def session(self, t: float) -> float:
        return self.origin + t

    def hear(self, samples: np.ndarray) -> None:
        """One chunk (or a backlog) of 16 kHz mono float32 microphone audio."""
        samples = mono_chunk(samples, "Listener")
        if not len(samples):
            return
        with self._lock:
            self._remember(samples)
            if self.turn is not None:
                with self.meter.measure("turn"):
                    self.predictor.push_audio(samples)
            with self.meter.measure("vad"):
                step = self.vad.accept(samples)
            for event in step.events:
                self.timeline.stamp_at(self.session(event.t), "vad", event.kind, decided_at=self.session(self.time))
                if event.kind == "start":
                    self._speech_started(event.t)  # a turn opened here gets its audio up to now, this chunk included
                else:
                    self._speech_ended(event.t)
            if self.turn is not None:
                self.turn.quiet_since = self.vad.quiet_since
            self._feed_asr()
            self._step_turn()

    # audio bookkeeping

    def _remember(self, samples: np.ndarray) -> None:
        self._recent.write(self._heard, samples)
        self._heard += len(samples)

    @property
    def oldest(self) -> int:
        """The oldest microphone sample still remembered."""
        return max(0, self._heard - self._recent.capacity)

    def audio_since(self, sample: int) -> np.ndarray:
        """Microphone audio from sample `sample` (at the oldest remembered) to now, a copy."""
        start = max(sample, self.oldest)
        return self._recent.read(start, self._heard - start)

    # speech and words

    def _speech_started(self, t: float) -> None:
        start = round(t * AUDIO_RATE)
        if not self._asr_open:
            begin = max(self._asr_at, start - self.asr_preroll, self.oldest)
            self.asr.skip(begin - self._asr_at)
            self._asr_at = begin
            self._asr_open = True
        if self.turn is None:
            begin = max(start - self.turn_preroll, self.oldest)
            self.turn = OpenTurn(begin / AUDIO_RATE, [[t, None]], reply=self.handler.avatar_reply())
            self.predictor.reset()
            self.policy.reset()
            self._pause_drafted = None
            with self.meter.measure("turn"):
                self.predictor.push_audio(self.audio_since(begin))
            self.timeline.stamp_at(self.session(t), "turn", "open", reply=self.turn.reply)
        else:
            self.turn.speech.append([t, None])

    def _speech_ended(self, t: float) -> None:
        if self.turn is not None and self.turn.speaking:
            self.turn.speech[-1][1] = max(t, float(self.turn.speech[-1][0] or 0.0))
        if self._asr_open:
            self._asr_feed_until(self._heard)
            with self.meter.measure("asr"):
                update = self.asr.flush()
            self._asr_open = False
            self._words(update.final)

    def _feed_asr(self) -> None:
        if self._asr_open:
            self._asr_feed_until(self._heard)
        else:  # keep the pre-roll unheard by the recognizer; skip what is older
            target = max(self._asr_at, self._heard - self.asr_preroll)
            self.asr.skip(target - self._asr_at)
            self._asr_at = target

    def _asr_feed_until(self, sample: int) -> None:
        audio = self.audio_since(self._asr_at)[: sample - self._asr_at]
        if not len(audio):
            return
        self._asr_at += len(audio)
        with self.meter.measure("asr"):
            update = self.asr.accept(np.ascontiguousarray(audio))
        if update is not None:
            self._words(update.final)

    def _words(self, words: Sequence[AsrWord]) -> None:
        now = self.time
        for w in words:
            delay = now - w.end
            self.word_delays.append((w.text, w.end, delay))
            echo = self.handler.is_echo(w)
            self.timeline.stamp_at(
                self.session(now), "asr", "word", text=w.text, start=self.session(w.start),
                end=self.session(w.end), delay=delay, echo=echo,
            )  # fmt: skip
            if self.turn is None or w.end <= self.turn.start:
                continue
            self.turn.heard.append(w)
            if echo:
                continue
            self.turn.words.append(w)
            with self.meter.measure("turn"):
                self.predictor.push_word(w.text, w.start - self.turn.start, w.end - self.turn.start, final=True)

    # the turn

    def _step_turn(self) -> None:
        now = self.time
        if self._continuation is not None and self.turn is None:
            committed, reply = self._continuation
            if not self.vad.speaking:
                self._continuation = None  # the speech ended: only the VAD's hang-over was left
            elif now - committed >= self.continue_s:
                # The user went on after the commit: what follows is a new turn, judged against the reply just
                # committed (a barge-in stops it); words that ended before the commit belong to the committed turn.
                self._continuation = None
                begin = round(committed * AUDIO_RATE)
                self.turn = OpenTurn(committed, [[committed, None]], reply=reply)
                self.predictor.reset()
                self.policy.reset()
                self._pause_drafted = None
                with self.meter.measure("turn"):
                    self.predictor.push_audio(self.audio_since(begin))
                self.timeline.stamp_at(self.session(now), "turn", "open", reply=reply, after_commit=True)
        turn = self.turn
        if turn is None:
            return
        if turn.reply is not None and not turn.barge_in:
            if self.handler.avatar_reply() != turn.reply:
                turn.reply = None  # that reply has ended: from now on an ordinary turn (its words so far count)
            else:
                verdict = self.handler.judge(turn, now)
                if verdict == "barge_in":
                    turn.barge_in = True
                elif verdict != "pending":
                    self._drop(verdict, now)
                    return
                else:
                    self._predict(turn, now)  # keeps p_end / p_stable current for the judge
                    return
        end = turn.speech_end
        if not turn.words and end is not None and now - end >= self.max_wordless_s:
            self._drop("no words", now)
            return
        prediction = self._predict(turn, now)
        paused = self.pause_draft_s is not None and prediction.words > 0 and prediction.silence >= self.pause_draft_s
        if paused != self._paused:
            self._paused = paused
            self.handler.pausing(paused)
        decision = self.policy.step(prediction)
        if decision.action is Action.DISCARD and decision.draft == self._pause_drafted == prediction.words:
            self.policy.draft = decision.draft  # a pause draft answers every word: it stands until another comes
            return
        if decision.action is Action.WAIT:
            decision = self._pause_draft(turn, prediction, now)
            if decision is None:
                return
        self._stamp(decision, prediction, now)
        if decision.action is Action.COMMIT:
            self.turn = None
        reply = self.handler.decide(decision, turn)
        if decision.action is Action.COMMIT and self.vad.speaking:
            self._continuation = (now, reply)  # speech still open: the user may be going on

    def _stamp(self, decision: Decision, prediction: Prediction, now: float) -> None:
        self.timeline.stamp_at(
            self.session(now), "turn", decision.action.value.lower(), words=decision.words, draft=decision.draft,
            reuse=decision.reuse, p_end=prediction.p_end, p_stable=prediction.p_stable,
        )  # fmt: skip

    def _pause_draft(self, turn: OpenTurn, prediction: Prediction, now: float) -> Decision | None:
        """A DRAFT for every word so far once the user has paused `pause_draft_s` with no live draft (None: off), so
        that a reply is under way before the turn is known to have ended."""
        if self.pause_draft_s is None or prediction.words == 0 or prediction.silence < self.pause_draft_s:
            return None
        if self.policy.draft is not None:  # a live draft stands: the policy judges whether it still fits
            return None
        self.policy.draft = self._pause_drafted = prediction.words
        return Decision(Action.DRAFT, prediction.t, prediction.words, prediction.words)

    def _predict(self, turn: OpenTurn, now: float) -> Prediction:
        with self.meter.measure("turn"):
            self.predictor.set_reference(self.policy.draft)
            prediction = self.predictor.update(now - turn.start)
        assert isinstance(prediction, Prediction)
        turn.last = prediction
        return prediction

    def _drop(self, reason: str, now: float) -> None:
        turn, self.turn = self.turn, None
        assert turn is not None
        self.timeline.stamp_at(self.session(now), "turn", "drop", reason=reason, text=turn.text)
        self.handler.turn_dropped(turn, reason, now)
