"""The live conversation: microphone audio in, the avatar's frames and speech out, with early replies and
interruptions. Wires the stages (see listener.py, responder.py, player.py) and keeps the session's state.

Threads, each ended by close(): `listen` (microphone chunks from a bounded queue -> Listener), `responder`
(language model and speech synthesis), `renderer` and `player` (the output clock). Session time is the
engine's clock; microphone time 0 is session time `mic_origin`.

Turn decisions: DRAFT starts a draft reply for the words so far (early replies on); DISCARD cancels it;
COMMIT adds the user's turn to the conversation and plays the draft if the policy keeps it, else a reply to
the whole turn. While the avatar speaks, user speech is judged by the interruption classifier: a barge-in
stops the reply at the next tick (the conversation keeps the words heard by then), the rest let it go on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from avatarlab.runtime.asr import AsrWord, StreamingASR
from avatarlab.runtime.audio_input import mono_chunk
from avatarlab.runtime.avatar import Avatar
from avatarlab.runtime.conversation import Conversation, TimedWord
from avatarlab.runtime.echo import EchoCanceller
from avatarlab.runtime.frames import FrameRing, IdleLoop
from avatarlab.runtime.interruptions import (
    HeardSpeech,
    InterruptionClassifier,
    Playback,
    ReplyPlayback,
    envelope_correlation,
)
from avatarlab.runtime.listener import Listener, OpenTurn
from avatarlab.runtime.llm import ChatLLM
from avatarlab.runtime.persona import Persona
from avatarlab.runtime.player import OutputSink, Player, Renderer, Speaking
from avatarlab.runtime.responder import Job, Responder
from avatarlab.runtime.response_policy import Action, Decision, Policy
from avatarlab.runtime.sample_ring import SampleRing
from avatarlab.runtime.streaming_avatar import StreamingAvatar
from avatarlab.runtime.timeline import Clock, CpuMeter, Timeline
from avatarlab.runtime.tts import PhraseSplitter, Synthesizer
from avatarlab.runtime.turn_predictor import TurnPredictor
from avatarlab.runtime.vad import SileroVAD
from avatarlab.spec.stream import AUDIO_RATE

log = logging.getLogger(__name__)

ENVELOPE_HOP = 320  # samples per energy value of the echo check (20 ms)


@dataclass(frozen=True)
class EngineOptions:
    """early_replies: draft while the user speaks; greet: say the persona's greeting first; idle_frames: frames
    of the idle loop (and of the head-pose loop); ring_slots: reply frames kept; max_reply_s: the longest
    reply; mic_queue_s: microphone audio held before the oldest is dropped; turn_preroll_s / asr_preroll_s:
    audio before a VAD start given to the turn predictor / the recognizer; max_wordless_s: a turn without a
    word is dropped this long after its speech ended; continue_s: speech still going on this long after a
    commit is a new turn (see listener.py); pause_draft_s: a pause this long drafts a reply to every word so far
    (None: only the policy drafts); hold: "duck" or "pause" while speech over a reply is
    judged; duck_gain: the ducked volume; max_pending_s: the longest hold before the reply is stopped;
    render_guess_s: a frame's render time before it is measured; render_threads / llm_threads / listen_threads:
    torch threads of the renderer, the responder (an embedded language model) and the listener (the turn
    predictor), each set on its own thread."""

    early_replies: bool
    greet: bool
    idle_frames: int
    ring_slots: int
    max_reply_s: float
    mic_queue_s: float
    turn_preroll_s: float
    asr_preroll_s: float
    max_wordless_s: float
    continue_s: float
    pause_draft_s: float | None
    hold: str
    duck_gain: float
    max_pending_s: float
    render_guess_s: float
    render_threads: int
    llm_threads: int
    listen_threads: int


class Engine:
    """One conversation session. hear() microphone audio from any thread; close() ends every thread."""

    def __init__(
        self,
        avatar: Avatar,
        vad: SileroVAD,
        asr: StreamingASR,
        predictor: TurnPredictor,
        policy: Policy,
        llm: ChatLLM,
        tts: Synthesizer,
        splitter: PhraseSplitter,
        persona: Persona,
        conversation: Conversation,
        classifier: InterruptionClassifier,
        echo: EchoCanceller | None,
        sink: OutputSink,
        clock: Clock,
        timeline: Timeline,
        options: EngineOptions,
        mic_origin: float = 0.0,
    ) -> None:
        self.avatar, self.persona, self.conversation = avatar, persona, conversation
        self.classifier, self.clock, self.timeline, self.options = classifier, clock, timeline, options
        self.echo = echo
        self.meter = CpuMeter()
        self.fps = int(round(avatar.spec.fps))
        self.listener = Listener(
            vad, asr, predictor, policy, self, timeline, self.meter, mic_origin,
            options.turn_preroll_s, options.asr_preroll_s, options.max_wordless_s, options.continue_s,
            options.pause_draft_s if options.early_replies else None,
        )  # fmt: skip
        self.responder = Responder(
            llm,
            tts,
            splitter,
            conversation,
            timeline,
            self.meter,
            options.max_reply_s,
            options.llm_threads,
            self._job_done,
        )
        self.idle = IdleLoop(avatar, options.idle_frames)  # its window: idle_frames, at most the track's length
        self.idle.render_next()  # the first idle frame, so that the output can start at once
        self.ring = FrameRing(avatar.spec.size, options.ring_slots)
        self.player = Player(
            self.fps, self.idle, self.ring, sink, clock, timeline, self.meter,
            self._reply_started, self._phrase_scheduled, self._reply_ended, self._reply_resumed, self._played,
        )  # fmt: skip
        self.renderer = Renderer(self.player, timeline, self.meter, options.render_guess_s, options.render_threads)
        chunks = max(4, round(options.mic_queue_s * 50))
        self._mic: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=chunks)
        self.mic_dropped = 0  # samples dropped because the listener fell behind
        self._lock = threading.RLock()
        self._draft: Job | None = None
        self._draft_speaking: Speaking | None = None
        self._user_paused = False
        self._reply: Job | None = None  # the committed reply being written
        self._playback: ReplyPlayback | None = None
        self._playback_reply: int | None = None
        self._recent_words: deque[TimedWord] = deque(maxlen=200)  # words played lately (echo checks)
        self._sent = SampleRing(round(8.0 * AUDIO_RATE))  # the last 8 s sent, by session sample (echo checks)
        self._mic_origin = mic_origin
        self.errors: list[str] = []
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()

    # lifecycle

    def start(self) -> None:
        """Start every thread; the greeting (if any) is queued first."""
        self.responder.start()
        self.renderer.start()
        self.player.start()
        listen = threading.Thread(target=self._listen, name="listen", daemon=True)
        listen.start()
        self._threads.append(listen)
        self.timeline.stamp("session", "ready")
        if self.options.greet and self.persona.greeting.strip():
            reply = self.conversation.commit(self.clock.now(), text="")
            job = self.responder.say(reply, self.persona.greeting)
            self._play(job)

    def close(self) -> dict[str, float]:
        """End the session: every thread stops (nothing is left running); the seconds each stage took to stop."""
        if self._closed.is_set():
            return {}
        self._closed.set()
        try:
            self._mic.put_nowait(None)
        except queue.Full:
            self._mic.get_nowait()
            self._mic.put_nowait(None)
        took: dict[str, float] = {}
        for name, stop in (("listen", self._join_listeners), ("responder", self.responder.close),
                           ("renderer", self.renderer.close), ("player", self.player.close)):  # fmt: skip
            began = time.monotonic()
            stop()
            took[name] = round(time.monotonic() - began, 3)
        self.meter.stamp(self.timeline)
        self.timeline.stamp("session", "closed", seconds=took)
        return took

    def _join_listeners(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)

    # microphone (any thread)

    def hear(self, samples: np.ndarray) -> None:
        """16 kHz mono float32 microphone audio, in order; the oldest is dropped if the listener falls behind."""
        samples = mono_chunk(samples, "Engine.hear")
        while True:
            try:
                self._mic.put_nowait(samples)
                return
            except queue.Full:
                try:
                    dropped = self._mic.get_nowait()
                    if dropped is not None:
                        self.mic_dropped += len(dropped)
                except queue.Empty:
                    pass

    def _listen(self) -> None:
        torch.set_num_threads(self.options.listen_threads)
        while True:
            chunk = self._mic.get()
            if chunk is None or self._closed.is_set():  # the session has ended: what is queued is not heard
                return
            backlog = [chunk]
            while len(backlog) < 25:
                try:
                    more = self._mic.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._mic.put(None)
                    break
                backlog.append(more)
            audio = backlog[0] if len(backlog) == 1 else np.concatenate(backlog)
            try:
                if self.echo is not None:
                    start = round((self._mic_origin + self.listener.time) * AUDIO_RATE)
                    with self.meter.measure("echo"):
                        audio = self.echo.cancel(start, audio)
                self.listener.hear(audio)
            except Exception as e:  # a stage failed: report it, go on listening
                self._error("listen", e)

    # TurnHandler (the listen thread)

    def avatar_reply(self) -> int | None:
        speaking = self.player.playing()
        if speaking is None:
            queued = self.player.queued
            return None if queued is None else queued.reply
        with self._lock:
            playback = self._playback
            if playback is None or playback.state in (Playback.STOPPED, Playback.FINISHED):
                return None
        return speaking.reply

    def is_echo(self, word: AsrWord) -> bool:
        session = _Shifted(word, self._mic_origin)
        with self._lock:
            played = list(self._recent_words)
        return self.classifier.is_echo(session, played)

    def judge(self, turn: OpenTurn, now: float) -> str:
        t = self._mic_origin + now
        # Final words only: the recognizer's partial guess of a backchannel ("here" for "yeah") would stop the reply.
        speech = HeardSpeech(
            start=self._mic_origin + float(turn.speech[0][0] or 0.0),
            end=None if turn.speech_end is None else self._mic_origin + turn.speech_end,
            words=[_Shifted(w, self._mic_origin) for w in turn.heard],  # the classifier tells echo from user
            p_end=None if turn.last is None else turn.last.p_end,
            p_stable=None if turn.last is None else turn.last.p_stable,
            echo_score=None if self.classifier.echo_correlation is None else self._echo_score(turn, now),
            quiet_since=None if turn.quiet_since is None else self._mic_origin + turn.quiet_since,
        )
        with self._lock:
            playback = self._playback if self._playback_reply == turn.reply else None
            played = list(self._recent_words)
        if playback is None:  # the reply is queued, not playing yet
            return "pending"
        change = playback.hear(speech, played, t) or playback.tick(t)
        if change is not None:
            self.timeline.stamp_at(t, "interrupt", change.after.value, reason=change.reason, label=change.reason)
            if change.after is Playback.DUCKED:
                self.player.gain = self.options.duck_gain
            elif change.after is Playback.PAUSED:
                self.player.hold()
            elif change.after is Playback.RESUMED:
                self.player.gain = 1.0
                self.player.release()
            elif change.after is Playback.STOPPED:
                self.timeline.stamp_at(t, "interrupt", "barge_in", reply=turn.reply, speech_start=speech.start)
                self._stop_reply("barge-in")
                return "barge_in"
        verdict = playback.verdicts[-1] if playback.verdicts else None
        if verdict is None or not verdict.final:
            return "pending"
        kind = verdict.kind.value
        self.timeline.stamp_at(t, "interrupt", kind, reason=verdict.reason, words=list(verdict.user_words))
        return kind

    def decide(self, decision: Decision, turn: OpenTurn) -> int | None:
        t = self._mic_origin + self.listener.time
        if decision.action is Action.DRAFT:
            if not self.options.early_replies:
                return None
            prefix = turn.prefix(decision.words)
            with self._lock:
                reply = self.conversation.start_draft()
                job = self._draft = self.responder.draft(reply, self.conversation.messages(self.persona, prefix))
                self._draft_speaking = self._speaking(job)
                if self._user_paused:
                    self._draft_speaking.armed.set()
            self.player.prepare(self._draft_speaking)
            return None
        if decision.action is Action.DISCARD:
            self._discard_draft()
            return None
        # COMMIT
        self.conversation.add_user(turn.text, t)  # ends a reply still active: the history is final from here
        with self._lock:
            draft = self._draft if self.options.early_replies else None
            self._draft = None
        usable = draft is not None and not draft.cancelled and draft.error is None
        kept = usable and decision.reuse
        # the whole turn's prompt (token-counted to its bound), built only when a kept draft does not answer
        messages = [] if kept else self.conversation.messages(self.persona)
        # a draft the policy drops still plays if the model would begin its reply to the whole turn with its words
        rebased = usable and not kept and self.responder.rebase(draft, messages)
        if kept or rebased:
            reply = self.conversation.commit(t, draft=draft.reply, if_active="replace")
            self.responder.release(draft)
            self.timeline.stamp_at(t, "turn", "reply", reply=reply, kept_draft=True, rebased=rebased)
            self._play(draft, self._draft_speaking)
            return reply
        if draft is not None:
            self.conversation.discard_draft()
            self.responder.cancel(draft)
            self.player.prepare(None)
        reply = self.conversation.commit(t, text="", if_active="replace")
        self.timeline.stamp_at(t, "turn", "reply", reply=reply, kept_draft=False)
        self._play(self.responder.reply(reply, messages))
        return reply

    def turn_dropped(self, turn: OpenTurn, reason: str, now: float) -> None:
        self._discard_draft()

    def pausing(self, paused: bool) -> None:
        """A pause may end the turn: a draft's first frame is rendered ahead while it lasts."""
        with self._lock:
            self._user_paused = paused
            draft = self._draft_speaking if self._draft is not None else None
        if draft is not None:
            (draft.armed.set if paused else draft.armed.clear)()

    # replies

    def _speaking(self, job: Job) -> Speaking:
        """The avatar's side of a reply: its track and a streaming avatar for it."""
        stream = StreamingAvatar(self.avatar, pose_window=self.idle.window)
        speaking = Speaking(job.track, stream, 0, self.clock.now())
        job.frame_ready = speaking.first_frame
        return speaking

    def _play(self, job: Job, speaking: Speaking | None = None) -> None:
        with self._lock:
            self._reply = job
        speaking = speaking if speaking is not None and speaking.track is job.track else self._speaking(job)
        self.player.queue(speaking, self.player.pose_for_start(self.renderer.ticks_ahead()))
        if job.done.is_set() and not job.track.phrases:  # it ended with nothing to say before it was queued:
            self.player.drop(job.reply)  # _job_done found nothing to drop, so drop it here (done is set first)

    def _discard_draft(self) -> None:
        with self._lock:
            draft, self._draft = self._draft, None
        self.player.prepare(None)
        if draft is not None:
            self.conversation.discard_draft()
            self.responder.cancel(draft)

    def _stop_reply(self, reason: str) -> None:
        with self._lock:
            job = self._reply
        self.player.stop(reason)
        if job is not None:
            self.responder.cancel(job)

    def _job_done(self, job: Job) -> None:
        if job.error is not None:
            self._error(f"reply {job.reply}", RuntimeError(job.error))
        if not job.track.phrases:  # nothing to say (failed, cancelled or empty): back to listening
            self.player.drop(job.reply)
            active = self.conversation.active
            if active is not None and active.reply == job.reply:
                self.conversation.finish(self.clock.now())

    # player callbacks (the player's thread)

    def _reply_started(self, speaking: Speaking, t: float) -> None:
        with self._lock:
            self._playback = ReplyPlayback(self.classifier, self.options.hold, self.options.max_pending_s)
            self._playback_reply = speaking.reply

    def _phrase_scheduled(self, speaking: Speaking, index: int, t_start: float) -> None:
        phrase = speaking.track.phrases[index]
        self.conversation.schedule(speaking.reply, phrase.text, phrase.words, t_start)
        with self._lock:
            self._recent_words.extend(TimedWord(w.word, t_start + w.start, t_start + w.end) for w in phrase.words)

    def _reply_resumed(self, speaking: Speaking, held_at: float, held_s: float) -> None:
        """A held reply plays on: its words from `held_at` on play `held_s` later."""
        self.conversation.shift(speaking.reply, held_at, held_s)
        with self._lock:
            shifted = [w.shifted(held_at, held_s) for w in self._recent_words]
            self._recent_words.clear()
            self._recent_words.extend(shifted)

    def _reply_ended(self, speaking: Speaking, t: float, status: str) -> None:
        with self._lock:
            playback = self._playback if self._playback_reply == speaking.reply else None
        if playback is not None and status == "done":
            playback.finish(t)
        active = self.conversation.active
        if active is None or active.reply != speaking.reply:
            return  # already ended (a newer reply replaced it)
        turn = self.conversation.interrupt(t) if status == "interrupted" else self.conversation.finish(t)
        if turn is not None:
            self.timeline.stamp_at(
                t, "conversation", "reply_end", reply=turn.reply, status=turn.status.value, content=turn.content,
                heard=len(turn.heard), unheard=len(turn.unheard),
            )  # fmt: skip

    def _played(self, t: float) -> None:
        self.conversation.mark_played(t)

    def record_output(self, t: float, audio: np.ndarray) -> None:
        """The sink reports audio sent at session time t (the echo canceller's reference, the echo check's envelope)."""
        if self.echo is not None:
            self.echo.reference(round(t * AUDIO_RATE), audio)
        self._sent.write(round(t * AUDIO_RATE), audio)

    def _echo_score(self, turn: OpenTurn, now: float) -> float | None:
        """How well the microphone's energy during the speech tracks what the avatar sent."""
        start = float(turn.speech[0][0] or 0.0)
        seconds = min(now - start, 4.0)
        if seconds < 0.3:
            return None
        n = round(seconds * AUDIO_RATE)
        mic = self.listener.audio_since(round(now * AUDIO_RATE) - n)  # as much of it as is remembered
        mic = mic[len(mic) % ENVELOPE_HOP :]
        end = round((self._mic_origin + now) * AUDIO_RATE)
        out = self._sent.read(end - len(mic), len(mic))
        env_mic = np.sqrt(np.mean(mic.reshape(-1, ENVELOPE_HOP) ** 2, axis=1))  # [frames]
        env_out = np.sqrt(np.mean(out.reshape(-1, ENVELOPE_HOP) ** 2, axis=1))
        max_lag = round(self.classifier.echo_delay_s * AUDIO_RATE / ENVELOPE_HOP)
        return envelope_correlation(env_mic, env_out, max_lag)

    def _error(self, where: str, error: BaseException) -> None:
        message = f"{where}: {type(error).__name__}: {error}"
        self.errors.append(message)
        log.error("%s", message)
        self.timeline.stamp("session", "error", error=message)

    def stats(self) -> dict[str, Any]:
        return {
            "cpu": self.meter.totals(),
            "mic_dropped_samples": self.mic_dropped,
            "frames_repeated": self.player.repeated,
            "frames_skipped": self.renderer.skipped,
            "errors": list(self.errors),
        }


@dataclass(frozen=True)
class _Shifted:
    """A recognised word in session time."""

    text: str
    start: float
    end: float

    def __init__(self, word: AsrWord, origin: float) -> None:
        object.__setattr__(self, "text", word.text)
        object.__setattr__(self, "start", word.start + origin)
        object.__setattr__(self, "end", word.end + origin)
