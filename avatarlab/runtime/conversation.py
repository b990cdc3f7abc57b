"""The conversation as the language model sees it: what the user said, and what the avatar really said.

A reply goes through three states. A DRAFT (`start_draft`) is speculative text for a prefix of the user's turn;
it is never in the history. `commit` makes a reply the one ACTIVE reply (a draft's text so far, or new text);
the language model's pieces extend its plan (`plan`), and each phrase handed to playback is `schedule`d with
its words' times: the TTS word timings plus the phrase's playback start, in session seconds on the
listener's playback clock. `mark_played(t)` follows that clock. The reply ends with `finish(t)` (played out)
or `interrupt(t)` (a barge-in; t is where the listener's playback stopped).

A reply's content in the history is what was heard: the words more than half played by the time it ended
(a word cut before its midpoint was not said; one cut after it was). A phrase heard whole keeps its text as
written; a phrase cut in the middle gives its spoken words, followed by `cut_marker`. A reply of which no
word was heard is left out. Reply ids make doubled replies impossible: one active reply at a time, a second
commit must say whether it replaces or extends it, and `plan`/`schedule` for a reply that is no longer
draft or active (discarded, replaced, ended) return False and change nothing.

The history is bounded: the last `max_turns` user turns (each with the replies after it), then the oldest
of those dropped while its rough size (characters / chars_per_token) is over `max_tokens`; the last user
turn is always kept. Consecutive messages of one role are merged (a user who went on after a reply of which
nothing was heard). Thread-safe: the LLM, TTS and playback threads may all call in.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from avatarlab.runtime.llm import Message
from avatarlab.runtime.persona import Persona


class ReplyError(RuntimeError):
    """A reply was used out of turn: committed twice, committed over an active one, scheduled as a draft."""


class WordTiming(Protocol):
    """A word and its times in seconds (a tts.SpokenWord; a TimedWord being played, in session seconds)."""

    @property
    def word(self) -> str: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


@dataclass(frozen=True)
class TimedWord:
    """A word of a reply and when the listener hears it, in session seconds."""

    word: str
    start: float
    end: float

    def heard_by(self, t: float) -> bool:
        """More than half of the word had played at `t`."""
        return t > (self.start + self.end) / 2

    def shifted(self, since: float, by: float) -> TimedWord:
        """The word when playback paused at `since` for `by` seconds: a word not over by then moves by `by` (one
        paused in its middle is taken as heard from where it resumed, its heard half counted from there)."""
        return TimedWord(self.word, self.start + by, self.end + by) if self.end > since else self


@dataclass(frozen=True)
class Phrase:
    """A piece of a reply handed to playback: its text as written and its words' playback times."""

    text: str
    words: tuple[TimedWord, ...]


class Status(str, Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    DONE = "done"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class UserTurn:
    """A user turn: its final transcript and when it was committed."""

    text: str
    t: float


@dataclass(frozen=True)
class AssistantTurn:
    """A reply as it stands. content: what the model sees of it ("" if no word was heard); heard: the words
    heard; unheard: the scheduled words that were not (yet); untold: whether the model's plan went on beyond the
    scheduled phrases; heard_until: the playback time they were judged at."""

    reply: int
    status: Status
    planned: str
    phrases: tuple[Phrase, ...]
    started: float | None
    ended: float | None
    heard_until: float
    heard: tuple[TimedWord, ...]
    unheard: tuple[TimedWord, ...]
    untold: bool
    content: str

    @property
    def cut(self) -> bool:
        """Ended before its end: scheduled words not heard, or planned text never scheduled."""
        return self.ended is not None and (bool(self.unheard) or self.untold)


class _Reply:
    def __init__(self, reply: int, status: Status, text: str, started: float | None) -> None:
        self.reply = reply
        self.status = status
        self.pieces = [text] if text else []
        self.phrases: list[Phrase] = []
        self.started = started
        self.ended: float | None = None
        self.played_until = -math.inf

    def heard_until(self) -> float:
        return self.ended if self.ended is not None else self.played_until

    def untold(self) -> bool:
        """The model's plan holds more words than the phrases handed to playback."""
        scheduled = sum(len(p.text.split()) for p in self.phrases)
        return len("".join(self.pieces).split()) > scheduled

    def snapshot(self, cut_marker: str) -> AssistantTurn:
        until = self.heard_until()
        words = [w for p in self.phrases for w in p.words]
        n = len(list(itertools.takewhile(lambda w: w.heard_by(until), words)))
        parts: list[str] = []
        left = n
        for p in self.phrases:
            if not p.words:  # nothing speakable: nothing was said
                continue
            if left >= len(p.words):
                parts.append(p.text.strip())
                left -= len(p.words)
            else:
                parts.append(" ".join(w.word for w in p.words[:left]))
                break
        content = " ".join(part for part in parts if part)
        untold = self.untold()
        if content and self.ended is not None and (n < len(words) or untold):
            content += cut_marker
        return AssistantTurn(
            reply=self.reply,
            status=self.status,
            planned="".join(self.pieces),
            phrases=tuple(self.phrases),
            started=self.started,
            ended=self.ended,
            heard_until=until,
            heard=tuple(words[:n]),
            unheard=tuple(words[n:]),
            untold=untold,
            content=content,
        )


Turn = UserTurn | AssistantTurn


class Conversation:
    """The user turns and the avatar's replies of one session, bounded (see the module's doc).

    max_turns: user turns kept (each with the replies after it); max_tokens: rough size bound of the history;
    chars_per_token: characters counted as one token; cut_marker: appended to a reply cut before its end
    (e.g. "..." or " [interrupted]")."""

    def __init__(self, max_turns: int, max_tokens: int, chars_per_token: float, cut_marker: str) -> None:
        if max_turns < 1 or max_tokens < 1 or not chars_per_token > 0:
            raise ValueError("need max_turns >= 1, max_tokens >= 1 and chars_per_token > 0")
        self.max_turns = max_turns
        self.max_tokens = max_tokens
        self.chars_per_token = chars_per_token
        self.cut_marker = cut_marker
        self._turns: list[UserTurn | _Reply] = []  # ended replies and user turns, oldest first
        self._active: _Reply | None = None
        self._draft: _Reply | None = None
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self.dropped_turns = 0  # user turns dropped from the front to keep max_turns

    # user turns

    def add_user(self, text: str, t: float) -> AssistantTurn | None:
        """The final transcript of a user turn. A reply still active ends at `t` (cut there if words of it
        were still to play) and is returned; a live draft stays (it was made for this turn)."""
        text = text.strip()
        if not text:
            raise ValueError("a user turn needs text")
        with self._lock:
            closed = self._close(t, self._status_at(t)) if self._active else None
            self._turns.append(UserTurn(text, t))
            self._prune()
            return closed

    # drafts

    def start_draft(self, text: str = "") -> int:
        """A new draft (replacing any live one, whose id goes stale); its id."""
        with self._lock:
            self._draft = _Reply(next(self._ids), Status.DRAFT, text, None)
            return self._draft.reply

    def discard_draft(self) -> int | None:
        """Drop the live draft; its id, or None if there was none."""
        with self._lock:
            draft, self._draft = self._draft, None
            return None if draft is None else draft.reply

    @property
    def draft(self) -> AssistantTurn | None:
        with self._lock:
            return None if self._draft is None else self._draft.snapshot(self.cut_marker)

    # the active reply

    def commit(self, t: float, draft: int | None = None, text: str = "", if_active: str = "error") -> int:
        """Make the reply to play: the live draft `draft` (its text so far, then `text`) or, with draft None, a
        new reply of `text`; any other live draft is discarded. Its id. With a reply already active,
        if_active says what happens: "error" raises ReplyError, "replace" ends it at `t` (cut there) and
        starts this one, "append" adds this text to its plan and returns its id."""
        if if_active not in ("error", "replace", "append"):
            raise ValueError(f"if_active must be 'error', 'replace' or 'append', not {if_active!r}")
        with self._lock:
            if draft is not None and (self._draft is None or self._draft.reply != draft):
                raise ReplyError(f"reply {draft} is not the live draft (discarded, replaced or committed)")
            if self._active is not None and if_active == "error":
                raise ReplyError(f"reply {self._active.reply} is still active: end it, or commit with if_active")
            source, self._draft = self._draft if draft is not None else None, None
            planned = "".join(source.pieces) + text if source else text
            if self._active is not None and if_active == "append":
                if planned:
                    self._active.pieces.append(planned)
                return self._active.reply
            if self._active is not None:
                self._close(t, self._status_at(t))
            reply = source.reply if source else next(self._ids)
            self._active = _Reply(reply, Status.ACTIVE, planned, t)
            return reply

    def plan(self, reply: int, text: str) -> bool:
        """Add model text to the draft or active reply `reply`; False (nothing done) if it is neither."""
        with self._lock:
            target = self._live(reply)
            if target is None:
                return False
            target.pieces.append(text)
            return True

    def schedule(self, reply: int, text: str, words: Iterable[WordTiming], offset: float) -> bool:
        """A phrase of the active reply handed to playback: `words` timed in seconds of its audio, which starts
        playing at session time `offset`. False (nothing done) if `reply` is no longer active; a ReplyError
        for a draft (commit it first)."""
        with self._lock:
            if self._draft is not None and self._draft.reply == reply:
                raise ReplyError(f"reply {reply} is a draft: commit it before scheduling its playback")
            if self._active is None or self._active.reply != reply:
                return False
            timed = tuple(TimedWord(w.word, offset + w.start, offset + w.end) for w in words)
            self._active.phrases.append(Phrase(text, timed))
            return True

    def shift(self, reply: int, since: float, by: float) -> None:
        """Playback of the active reply `reply` paused at `since` for `by` seconds: its words move accordingly."""
        with self._lock:
            if self._active is None or self._active.reply != reply:
                return
            self._active.phrases = [
                Phrase(p.text, tuple(w.shifted(since, by) for w in p.words)) for p in self._active.phrases
            ]

    def mark_played(self, t: float) -> None:
        """The listener's playback clock has reached `t`."""
        with self._lock:
            if self._active is not None:
                self._active.played_until = max(self._active.played_until, t)

    def finish(self, t: float) -> AssistantTurn | None:
        """The active reply has played out at `t`; its final form, or None if none was active."""
        with self._lock:
            return self._close(t, Status.DONE) if self._active else None

    def interrupt(self, t: float) -> AssistantTurn | None:
        """A barge-in: the active reply ends where the listener's playback stopped, `t`; only the words heard by
        then stay. Its final form, or None if none was active. A live draft stays."""
        with self._lock:
            return self._close(t, Status.INTERRUPTED) if self._active else None

    @property
    def active(self) -> AssistantTurn | None:
        with self._lock:
            return None if self._active is None else self._active.snapshot(self.cut_marker)

    def playing_words(self, since: float, until: float) -> list[TimedWord]:
        """Words of the active reply that play (in part) between `since` and `until`."""
        with self._lock:
            if self._active is None:
                return []
            return [w for p in self._active.phrases for w in p.words if w.end >= since and w.start <= until]

    # what the model sees

    def turns(self) -> list[Turn]:
        """The kept turns, oldest first, the active reply last (drafts are not turns)."""
        with self._lock:
            kept: list[Turn] = [
                turn if isinstance(turn, UserTurn) else turn.snapshot(self.cut_marker) for turn in self._turns
            ]
            if self._active is not None:
                kept.append(self._active.snapshot(self.cut_marker))
            return kept

    def history(self, pending_user: str | None = None) -> list[dict[str, str]]:
        """The bounded history as chat messages: user turns, and of each reply what was heard so far; with
        `pending_user`, the user's turn in progress last (the prompt for a draft)."""
        messages: list[dict[str, str]] = []
        for turn in self.turns():
            if isinstance(turn, UserTurn):
                _append(messages, "user", turn.text)
            elif turn.content:
                _append(messages, "assistant", turn.content)
        if pending_user and pending_user.strip():
            _append(messages, "user", pending_user.strip())
        return self._bounded(messages)

    def messages(self, persona: Persona, pending_user: str | None = None) -> list[dict[str, str]]:
        """The messages to send to the language model: `persona`'s system prompt and the history."""
        history: Sequence[Message] = self.history(pending_user)
        return persona.messages(history)

    def transcript(self) -> list[dict[str, Any]]:
        """The kept turns as JSON-able records; a cut reply shows what was heard and what was not."""
        out: list[dict[str, Any]] = []
        for turn in self.turns():
            if isinstance(turn, UserTurn):
                out.append({"role": "user", "t": turn.t, "text": turn.text})
                continue
            out.append(
                {
                    "role": "assistant",
                    "reply": turn.reply,
                    "status": turn.status.value,
                    "started": turn.started,
                    "ended": turn.ended,
                    "planned": turn.planned,
                    "content": turn.content,
                    "heard": [[w.word, w.start, w.end] for w in turn.heard],
                    "unheard": [[w.word, w.start, w.end] for w in turn.unheard],
                    "untold": turn.untold,
                    "cut": turn.cut,
                }
            )
        return out

    # internals

    def _live(self, reply: int) -> _Reply | None:
        for candidate in (self._draft, self._active):
            if candidate is not None and candidate.reply == reply:
                return candidate
        return None

    def _status_at(self, t: float) -> Status:
        """DONE if every scheduled word of the active reply is heard by `t` and nothing planned is left unscheduled,
        else INTERRUPTED."""
        reply = self._active
        assert reply is not None
        heard = all(w.heard_by(t) for p in reply.phrases for w in p.words)
        return Status.DONE if heard and not reply.untold() else Status.INTERRUPTED

    def _close(self, t: float, status: Status) -> AssistantTurn:
        reply = self._active
        assert reply is not None
        self._active = None
        reply.status = status
        reply.ended = reply.played_until = t
        self._turns.append(reply)
        self._prune()
        return reply.snapshot(self.cut_marker)

    def _prune(self) -> None:
        users = [i for i, turn in enumerate(self._turns) if isinstance(turn, UserTurn)]
        if len(users) > self.max_turns:
            first = users[-self.max_turns]
            self.dropped_turns += len(users) - self.max_turns
            del self._turns[:first]

    def _tokens(self, messages: Sequence[dict[str, str]]) -> int:
        return sum(math.ceil(len(m["content"]) / self.chars_per_token) for m in messages)

    def _bounded(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        if len(users) > self.max_turns:
            messages, users = messages[users[-self.max_turns] :], users[-self.max_turns :]
            users = [i - users[0] for i in users]
        while len(users) > 1 and self._tokens(messages) > self.max_tokens:
            messages = messages[users[1] :]
            users = [i - users[1] for i in users[1:]]
        return messages


def _append(messages: list[dict[str, str]], role: str, content: str) -> None:
    if messages and messages[-1]["role"] == role:
        messages[-1] = {"role": role, "content": messages[-1]["content"] + " " + content}
    else:
        messages.append({"role": role, "content": content})
