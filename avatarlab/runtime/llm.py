"""The language model stage: chat messages in, the reply's text out piece by piece, cancellable between pieces.

`llm.stream(messages)` returns a Generation at once; iterating it runs the model and yields text pieces (a
token or an SSE delta each). `generation.cancel()`, from any thread, stops it before the next piece: the
embedded model checks between two forward passes, the HTTP client also shuts its socket so that a blocked
read returns at once. Iterating is blocking: an asyncio caller wraps it with `async_pieces()`, which iterates
on a thread and cancels the generation when the consumer stops or is cancelled. Stamps are `time.monotonic()`.
Malformed messages raise a ValueError from stream(); a failure of the model an LLMError while iterating.

Implementations: `OpenAIChatLLM` here (any OpenAI-compatible `/chat/completions` endpoint, streamed as
server-sent events) and `avatarlab.runtime.llm_local.LocalLLM` (SmolLM2-135M-Instruct, embedded).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Protocol
from urllib.parse import urlsplit

Message = Mapping[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}
ROLES = ("system", "user", "assistant")
ERROR_BODY_CHARS = 300  # characters of a server's error body quoted in an LLMError


class LLMError(RuntimeError):
    """The language model failed (endpoint down, slow, HTTP error, not an OpenAI stream, model failure)."""


class Generation:
    """One reply being generated. Iterate once for its text pieces; cancel() from any thread.

    started / first_piece_at / finished_at: monotonic stamps; pieces: pieces yielded; text: their concatenation;
    finish_reason: "stop", "length", "cancelled" or "error" once it has ended."""

    def __init__(self, run: Callable[[Generation], Iterator[str]]) -> None:
        self._run = run
        self._cancel = threading.Event()
        self._on_cancel: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._iterated = False
        self.started = time.monotonic()
        self.first_piece_at: float | None = None
        self.finished_at: float | None = None
        self.pieces = 0
        self.text = ""
        self.finish_reason: str | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def first_piece_s(self) -> float | None:
        """Seconds from stream() to the first piece (None before it)."""
        return None if self.first_piece_at is None else self.first_piece_at - self.started

    def on_cancel(self, action: Callable[[], None]) -> None:
        """Run `action` when the generation is cancelled (at once if it already is)."""
        with self._lock:
            if not self._cancel.is_set():
                self._on_cancel.append(action)
                return
        action()

    def cancel(self) -> None:
        """Stop before the next piece; the model call itself stops (thread-safe, idempotent)."""
        with self._lock:
            self._cancel.set()
            actions, self._on_cancel = self._on_cancel, []
        for action in actions:
            action()

    def __iter__(self) -> Iterator[str]:
        if self._iterated:
            raise RuntimeError("a Generation is iterated once")
        self._iterated = True
        return self._pieces()

    def _pieces(self) -> Iterator[str]:
        run = self._run(self)
        try:
            for piece in run:
                if self.cancelled:
                    break
                if not piece:
                    continue
                if self.first_piece_at is None:
                    self.first_piece_at = time.monotonic()
                self.pieces += 1
                self.text += piece
                yield piece
        except GeneratorExit:  # the consumer let go: the model stops too
            self.cancel()
            raise
        except BaseException:
            if not self.cancelled:  # an error caused by cancelling (a socket shut) is not one
                self.finish_reason = "error"
                raise
        finally:
            run.close()
            self.finished_at = time.monotonic()
            if self.cancelled:
                self.finish_reason = "cancelled"
            elif self.finish_reason is None:
                self.finish_reason = "stop"


class ChatLLM(Protocol):
    """A streaming chat model."""

    def stream(self, messages: Sequence[Message]) -> Generation: ...


def check_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    """`messages` as plain dicts; a ValueError names the first malformed one."""
    out = []
    for i, m in enumerate(messages):
        role, content = m.get("role"), m.get("content")
        if role not in ROLES or not isinstance(content, str):
            raise ValueError(f"message {i} must have a role in {ROLES} and a str content, not {dict(m)!r}")
        out.append({"role": role, "content": content})
    if not out or out[-1]["role"] != "user":
        raise ValueError("the last message must be the user's")
    return out


_END = object()


async def async_pieces(generation: Generation, maxsize: int) -> AsyncIterator[str]:
    """The generation's pieces for an asyncio consumer: the model runs on its own thread, its pieces go through
    a queue of `maxsize`; when the consumer stops (break, exception, task cancelled) the generation is
    cancelled. An LLMError of the model is raised here."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize)

    def put(item: object) -> bool:
        while not generation.cancelled:
            try:
                future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
            except RuntimeError:  # the loop has closed
                return False
            try:
                future.result(timeout=0.05)
                return True
            except concurrent.futures.TimeoutError:
                future.cancel()
        return False

    def pump() -> None:
        try:
            for piece in generation:
                if not put(piece):
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer
            put(error)

    thread = threading.Thread(target=pump, name="llm-generation", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield str(item)
    finally:
        generation.cancel()


class OpenAIChatLLM:
    """Any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, a hosted model), streamed.

    base_url: up to and including the API version, e.g. "http://127.0.0.1:8000/v1" (POSTs base_url +
    "/chat/completions"); model: the model name the server expects; api_key_env: the environment variable
    holding the key (None, or unset: no Authorization header); connect_timeout_s: to open the connection;
    read_timeout_s: the longest wait for the next bytes (the first piece included); total_timeout_s: the
    whole reply; max_tokens, temperature: sent with the request."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None,
        connect_timeout_s: float,
        read_timeout_s: float,
        total_timeout_s: float,
        max_tokens: int,
        temperature: float,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, not {base_url!r}")
        if min(connect_timeout_s, read_timeout_s, total_timeout_s) <= 0 or max_tokens < 1:
            raise ValueError("timeouts must be > 0 and max_tokens >= 1")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.total_timeout_s = total_timeout_s
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._parts = parts
        self.url = self.base_url + "/chat/completions"

    def stream(self, messages: Sequence[Message]) -> Generation:
        body = {
            "model": self.model,
            "messages": check_messages(messages),
            "stream": True,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        return Generation(lambda generation: self._run(generation, body))

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _connection(self) -> http.client.HTTPConnection:
        p = self._parts
        kind = http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
        return kind(p.hostname, p.port, timeout=self.connect_timeout_s)

    def _run(self, generation: Generation, body: dict[str, object]) -> Iterator[str]:
        deadline = time.monotonic() + self.total_timeout_s
        conn = self._connection()
        generation.on_cancel(lambda: _shut(conn))
        try:
            try:
                conn.connect()
            except OSError as e:
                if generation.cancelled:
                    return
                raise LLMError(f"cannot connect to {self.url}: {e}") from e
            conn.sock.settimeout(self.read_timeout_s)
            if generation.cancelled:
                return
            try:
                conn.request(
                    "POST", self._parts.path.rstrip("/") + "/chat/completions", json.dumps(body), self._headers()
                )
                response = conn.getresponse()
            except TimeoutError as e:
                raise LLMError(f"{self.url}: no answer within {self.read_timeout_s:g} s") from e
            except http.client.HTTPException as e:
                if generation.cancelled:
                    return
                raise LLMError(f"{self.url}: not an HTTP answer ({type(e).__name__}: {e})") from e
            except OSError as e:
                if generation.cancelled:
                    return
                raise LLMError(f"{self.url}: the connection failed ({e})") from e
            if response.status != 200:
                detail = response.read(ERROR_BODY_CHARS * 4).decode("utf-8", "replace")[:ERROR_BODY_CHARS]
                hint = f" (is {self.api_key_env} set?)" if response.status in (401, 403) and self.api_key_env else ""
                raise LLMError(f"{self.url}: HTTP {response.status} {response.reason}{hint}: {detail.strip()}")
            yield from self._events(generation, response, deadline)
        finally:
            conn.close()

    def _events(self, generation: Generation, response: http.client.HTTPResponse, deadline: float) -> Iterator[str]:
        """Text deltas of the server-sent events; [DONE] ends the stream."""
        data: list[str] = []
        while True:
            if time.monotonic() > deadline:
                raise LLMError(f"{self.url}: the reply took longer than {self.total_timeout_s:g} s")
            try:
                raw = response.readline()
            except TimeoutError as e:
                raise LLMError(f"{self.url}: no data for {self.read_timeout_s:g} s") from e
            except (OSError, http.client.HTTPException, ValueError) as e:
                if generation.cancelled:
                    return
                raise LLMError(f"{self.url}: the stream broke ({type(e).__name__}: {e})") from e
            if generation.cancelled:
                return
            if not raw:
                raise LLMError(f"{self.url}: the stream ended before [DONE]")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
                continue
            if line and not line.startswith((":", "event:", "id:", "retry:")):
                raise LLMError(f"{self.url}: not an OpenAI event stream: {line[:ERROR_BODY_CHARS]!r}")
            if line or not data:
                continue
            payload, data = "\n".join(data), []
            if payload.strip() == "[DONE]":
                return
            piece, reason = self._delta(payload)
            if reason is not None:
                generation.finish_reason = "length" if reason == "length" else "stop"
            if piece:
                yield piece

    def _delta(self, payload: str) -> tuple[str, str | None]:
        """(text, finish_reason) of one chat.completion.chunk."""
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError as e:
            raise LLMError(f"{self.url}: an event is not JSON: {payload[:ERROR_BODY_CHARS]!r}") from e
        if isinstance(chunk, dict) and "error" in chunk:
            error = chunk["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise LLMError(f"{self.url}: the server reported an error: {message}")
        try:
            choices = chunk["choices"]
            if not choices:  # a usage-only chunk
                return "", None
            choice = choices[0]
            content = (choice.get("delta") or {}).get("content") or ""
            if not isinstance(content, str):
                raise TypeError(f"content is {type(content).__name__}")
            return content, choice.get("finish_reason")
        except (KeyError, IndexError, TypeError, AttributeError) as e:
            raise LLMError(f"{self.url}: not a chat.completion.chunk: {payload[:ERROR_BODY_CHARS]!r}") from e


def _shut(conn: http.client.HTTPConnection) -> None:
    """Unblock a read in progress on another thread."""
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
