"""The answering side of the loop: a reply's text from the language model, spoken phrase by phrase into its track.

One job at a time, on the responder's own thread. A job streams the model's pieces, cuts them into phrases
(`PhraseSplitter`) and synthesizes each into the reply's `ReplyTrack`. A draft job stops after its first
phrase and waits: `release()` (the draft is kept at COMMIT) lets it go on, `rebase()` first makes it the reply to
the whole turn when the model would begin that reply with the same words, `cancel()` (DISCARD, barge-in, end of
session) stops it at once, down to the model call (the generation is cancelled between two tokens).
Starting a job cancels the one before. A `say` job speaks given text without the model (the greeting).
The conversation hears of every piece (`plan`); a piece for a reply that is no longer live ends the job.
Failures (model down, slow or garbage; speech synthesis failing) end the job with its error: the track is
closed with what it has, and `on_done` reports the error.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from avatarlab.runtime.conversation import Conversation
from avatarlab.runtime.llm import ChatLLM, Generation, LLMError, Message
from avatarlab.runtime.reply_track import ReplyTrack, TrackFull
from avatarlab.runtime.timeline import CpuMeter, Timeline
from avatarlab.runtime.tts import PhraseSplitter, Synthesizer

FIRST_FRAME_WAIT_S = 0.5  # the longest the model waits, after the first phrase, for the reply's first frame


@dataclass
class Job:
    """One reply being written and spoken. kind: "draft", "reply" or "say"."""

    kind: str
    track: ReplyTrack
    messages: Sequence[Message] = ()
    text: str = ""
    generation: Generation | None = None
    error: str | None = None
    frame_ready: threading.Event | None = None  # set when the avatar has rendered the reply's first frame
    first_phrase: threading.Event = field(default_factory=threading.Event)
    parked: threading.Event = field(default_factory=threading.Event)  # a draft waiting after its first phrase
    done: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)
    _cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def reply(self) -> int:
        return self.track.reply

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._released.set()  # a parked draft wakes up to end
        if self.frame_ready is not None:
            self.frame_ready.set()  # nor does it wait for a frame that will not come
        if self.generation is not None:
            self.generation.cancel()


class Responder:
    """Runs jobs (see the module's doc). `on_done(job)` is called on the responder's thread when a job ends."""

    def __init__(
        self,
        llm: ChatLLM,
        tts: Synthesizer,
        splitter: PhraseSplitter,
        conversation: Conversation,
        timeline: Timeline,
        meter: CpuMeter,
        max_reply_s: float,
        torch_threads: int,
        on_done: Callable[[Job], None],
    ) -> None:
        self.torch_threads = torch_threads
        self.llm, self.tts, self.splitter, self.conversation = llm, tts, splitter, conversation
        self.timeline, self.meter = timeline, meter
        self.max_reply_s = max_reply_s
        self.on_done = on_done
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=4)
        self._current: Job | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="responder", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.cancel()
        self._submit(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    # jobs (any thread)

    def draft(self, reply: int, messages: Sequence[Message]) -> Job:
        return self._submit(Job("draft", ReplyTrack(reply, self.max_reply_s), messages=messages))

    def reply(self, reply: int, messages: Sequence[Message]) -> Job:
        return self._submit(Job("reply", ReplyTrack(reply, self.max_reply_s), messages=messages))

    def say(self, reply: int, text: str) -> Job:
        return self._submit(Job("say", ReplyTrack(reply, self.max_reply_s), text=text))

    def release(self, job: Job) -> None:
        """A kept draft: go on past the first phrase."""
        job._released.set()

    def rebase(self, job: Job, messages: Sequence[Message]) -> bool:
        """Make a parked draft the reply to `messages` (the whole turn) if the model would begin that reply with the
        words the draft has written (see LocalLLM.rebase; a model without it: False). Release it afterwards."""
        rebase = getattr(self.llm, "rebase", None)
        if rebase is None or not job.parked.is_set() or job.cancelled or job.error is not None:
            return False
        started = time.perf_counter()
        try:
            with self.meter.measure("llm"):
                kept = job.generation is not None and rebase(job.generation, messages)
        except LLMError as e:  # the fresh reply that follows meets the same fault and reports it
            self.timeline.stamp("llm", "rebase", reply=job.reply, kept=False, error=str(e))
            return False
        if kept:
            job.messages = messages
        self.timeline.stamp("llm", "rebase", reply=job.reply, kept=kept, took_s=time.perf_counter() - started)
        return kept

    def cancel(self, job: Job | None) -> None:
        if job is not None:
            job.cancel()
            self.timeline.stamp("llm", "cancel", reply=job.reply, kind=job.kind)

    def _submit(self, job: Job | None) -> Job:
        with self._lock:
            if self._current is not None and job is not None:
                self._current.cancel()  # one live job: the new one replaces it
        while True:
            try:
                self._jobs.put_nowait(job)
                break
            except queue.Full:  # drop the oldest waiting job (it is stale: a newer one replaces it)
                try:
                    stale = self._jobs.get_nowait()
                    if stale is not None:
                        stale.cancel()
                        stale.track.close()
                        stale.done.set()
                except queue.Empty:
                    pass
        return job  # type: ignore[return-value]

    # the thread

    def _run(self) -> None:
        torch.set_num_threads(self.torch_threads)  # this thread's own setting (an embedded model runs here)
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                self._current = job
            try:
                if not job.cancelled:
                    self._work(job)
            except (LLMError, TrackFull, RuntimeError, ValueError, OSError) as e:
                job.error = f"{type(e).__name__}: {e}"
                self.timeline.stamp(
                    "llm" if isinstance(e, LLMError) else "tts", "error", reply=job.reply, error=job.error
                )
            finally:
                job.track.close()
                with self._lock:
                    self._current = None
                job.first_phrase.set()
                job.done.set()
                self.on_done(job)

    def _work(self, job: Job) -> None:
        self.splitter.reset()
        if job.kind == "say":
            for phrase in self.splitter.push(job.text + " ") + self.splitter.flush():
                if job.cancelled or not self._speak(job, phrase):
                    return
            return
        self.timeline.stamp("llm", "start", id=job.reply, kind=job.kind, label=f"{job.kind} {job.reply}")
        generation = job.generation = self.llm.stream(job.messages)
        if job.cancelled:
            generation.cancel()
        pieces = iter(generation)
        first_token = True
        try:
            while True:
                with self.meter.measure("llm"):
                    piece = next(pieces, None)
                if piece is None or job.cancelled:
                    break
                if first_token:
                    self.timeline.stamp("llm", "first_token", reply=job.reply, kind=job.kind)
                    first_token = False
                if not self.conversation.plan(job.reply, piece):
                    job.cancel()  # the reply was discarded, replaced or ended
                    break
                for phrase in self.splitter.push(piece):
                    if not self._speak(job, phrase):
                        return
            if not job.cancelled:
                for phrase in self.splitter.flush():
                    if not self._speak(job, phrase):
                        return
        finally:
            pieces.close()  # type: ignore[attr-defined]
            reason = "cancelled" if job.cancelled else generation.finish_reason
            self.timeline.stamp("llm", "end", id=job.reply, reason=reason, text=generation.text)

    def _speak(self, job: Job, phrase: str) -> bool:
        """Synthesize one phrase into the track; False when the job must end (cancelled)."""
        if job.cancelled:
            return False
        self.timeline.stamp("tts", "start", id=f"{job.reply}:{len(job.track.phrases)}", label=phrase)
        with self.meter.measure("tts"):
            utterance = self.tts.synthesize(phrase)
        self.timeline.stamp(
            "tts", "end", id=f"{job.reply}:{len(job.track.phrases)}", seconds=len(utterance.audio) / 16000
        )
        if job.cancelled:
            return False
        if len(utterance.audio):
            job.track.append(phrase, utterance.audio, utterance.words)
        if not job.first_phrase.is_set():
            job.first_phrase.set()
            if job.kind == "draft":
                started = time.monotonic()
                job.parked.set()
                job._released.wait()  # parked until COMMIT keeps it (or it is cancelled)
                job.parked.clear()
                self.timeline.stamp("llm", "resume", reply=job.reply, parked_s=time.monotonic() - started)
            if job.frame_ready is not None:  # the first frame goes first: the rest of the reply has time
                job.frame_ready.wait(FIRST_FRAME_WAIT_S)
            return not job.cancelled
        return True
