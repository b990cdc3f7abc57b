"""`python serve.py` (mode=live): the browser page and one live conversation per WebSocket.

The page (avatarlab/serve/static/) sends `{"type": "hello", "sample_rate": 16000, "channels": 1}`, then PCM16
microphone audio as binary messages, and `{"type": "mute", "muted": true|false}` or `{"type": "end"}`. The
server answers `{"type": "ready", ...}`, then one binary message per 40 ms tick (transport.py) and JSON events:
`state` (listening, hearing, thinking, speaking), `words` (the user's words as recognised), `transcript` (both
sides; a reply cut by a barge-in is marked where it was cut), `latency` (end of user speech -> first frame of
the reply), `error` (then the socket closes).

Bound to 127.0.0.1 by default. Any other address needs an access token (generated and printed unless given)
and TLS (a certificate and key, or a self-signed pair made at start): browsers grant the microphone only to
HTTPS pages or localhost. Every connection's token and Origin are checked; `max_sessions` bounds concurrent
conversations, and a connection beyond it is closed at once with the reason "busy".
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import logging
import secrets
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import WSCloseCode, WSMsgType, web
from omegaconf import DictConfig

from avatarlab.errors import UserInputError
from avatarlab.runtime.timeline import Event, MonotonicClock
from avatarlab.serve.build import Stages, new_engine
from avatarlab.serve.transport import FrameCodec, WebSocketSink
from avatarlab.spec.stream import AUDIO_RATE

log = logging.getLogger(__name__)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
HELLO_TIMEOUT_S = 10.0
BUSY = "busy: another conversation is in progress; try again when it ends"


@dataclass(frozen=True, kw_only=True)
class LiveOptions:
    """The server's options (configs/serve.yaml, `live`)."""

    host: str
    port: int
    token: str | None
    tls_cert: str | None
    tls_key: str | None
    self_signed: bool
    max_sessions: int
    image_format: str | None
    image_quality: int | None
    max_message_bytes: int
    send_queue: int
    send_buffer_bytes: int
    stall_s: float
    sync_probe: bool

    @property
    def local(self) -> bool:
        return self.host in LOCAL_HOSTS


def limit_send_buffer(transport: asyncio.BaseTransport | None, size: int) -> None:
    """Bound what a connection holds below the send queue (the kernel's socket buffer and the transport's) to
    about `size` bytes each: a page that reads slowly then pushes back on the queue within a fraction of a second,
    and its frames are dropped there, instead of seconds of stale video piling up in buffers it will play late."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    if isinstance(transport, asyncio.WriteTransport):
        transport.set_write_buffer_limits(high=size)


def fix_mmap_threshold(limit: int = 128 * 1024) -> None:
    """Keep glibc's mmap threshold at `limit`: each session's large buffers (frame rings, audio tracks) then come
    from mmap and go back to the system when freed. Left dynamic, the threshold rises after the first such
    free, later buffers come from the heap, and the server's footprint creeps up session after session."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, limit)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def release_memory() -> None:
    """Hand the memory a closed session freed back to the system (glibc keeps freed blocks of every thread's
    arena otherwise, and a long-running server's footprint creeps up session after session)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def frame_codec(options: LiveOptions, size: int) -> FrameCodec:
    """How the frames go to the page: the configured format and quality, else JPEG at 85 below 192 px (about
    1 Mbit/s and 35 dB at 128 px, and the cheapest to encode) and WebP at 74 from 192 px (on a real face at 256 px,
    1.46 Mbit/s for 35 dB where JPEG needs about 2.1; `python -m avatarlab.bench.transport`)."""
    image_format = options.image_format or ("jpeg" if size < 192 else "webp")
    quality = options.image_quality or (85 if image_format == "jpeg" else 74)
    return FrameCodec(image_format, quality)


def static_dir() -> Path:
    return Path(str(resources.files("avatarlab.serve") / "static"))


class EventRelay:
    """Timeline events -> the page's JSON events (state, words, transcript, latency)."""

    def __init__(self, send: Callable[[dict[str, Any]], None], transcript: Callable[[], list[dict[str, Any]]]) -> None:
        self.send, self.transcript = send, transcript
        self.speech_end: float | None = None  # the user's last end of speech
        self.reply_after: dict[int, float] = {}  # reply -> the end of speech it answers

    def __call__(self, event: Event) -> None:
        stage, kind, data = event.stage, event.kind, event.data
        if stage == "vad" and kind == "start":
            self.send({"type": "state", "state": "hearing"})
        elif stage == "vad" and kind == "end":
            self.speech_end = event.t
        elif stage == "asr" and kind == "word" and not data.get("echo"):
            self.send({"type": "words", "text": data.get("text", ""), "t": event.t})
        elif stage == "turn" and kind == "reply":
            if self.speech_end is not None:
                self.reply_after[int(data["reply"])] = self.speech_end
            self.send({"type": "state", "state": "thinking"})
            self.send({"type": "transcript", "items": self.transcript()})
        elif stage == "output" and kind == "start":
            reply = int(data["id"])
            self.send({"type": "state", "state": "speaking", "reply": reply})
            if reply in self.reply_after:
                latency = event.t - self.reply_after.pop(reply)
                self.send({"type": "latency", "reply": reply, "seconds": round(latency, 3)})
        elif stage == "output" and kind == "end":
            self.send({"type": "state", "state": "listening"})
            self.send({"type": "transcript", "items": self.transcript()})
        elif stage == "interrupt" and kind == "barge_in":
            self.send({"type": "interrupted", "reply": data.get("reply")})
        elif kind == "error" and stage in ("llm", "tts", "session"):
            what = {"llm": "the language model", "tts": "speech synthesis"}.get(stage, "the conversation")
            self.send({"type": "notice", "message": f"{what} failed: {data.get('error')}; still listening"})


class SessionLog:
    """The conversation as the page saw it, one JSON object a line (turns, timings, interruptions), in
    OUT/sessions/; it never holds the access token (the relay's messages do not carry it)."""

    def __init__(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{name}.jsonl"
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        if record.get("type") == "words":
            return  # the transcript records carry the words
        with self._lock:
            if not self._file.closed:
                self._file.write(json.dumps(record, default=str) + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class ProtocolError(Exception):
    """A message the protocol does not allow: its text goes to the page, then the socket closes."""

    def __init__(self, message: str, code: int = WSCloseCode.UNSUPPORTED_DATA) -> None:
        super().__init__(message)
        self.code = code


def parse_text(data: str) -> dict[str, Any]:
    try:
        message = json.loads(data)
    except json.JSONDecodeError as e:
        raise ProtocolError(f"text messages must be JSON objects ({e.msg})", WSCloseCode.INVALID_TEXT) from e
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError('text messages must be JSON objects with a "type"', WSCloseCode.INVALID_TEXT)
    return message


def check_hello(message: dict[str, Any]) -> None:
    if message["type"] != "hello":
        raise ProtocolError(f'the first message must be {{"type": "hello", ...}}, not {message["type"]!r}')
    if message.get("sample_rate") != AUDIO_RATE or message.get("channels") != 1:
        raise ProtocolError(
            f"audio must be {AUDIO_RATE} Hz mono PCM16, not {message.get('sample_rate')} Hz with"
            f" {message.get('channels')} channel(s)"
        )


def decode_audio(data: bytes) -> np.ndarray:
    if len(data) % 2:
        raise ProtocolError("audio messages must hold whole PCM16 samples (an even number of bytes)")
    return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0


class LiveServer:
    """The aiohttp application: the page, its static files, and /ws sessions on a pool of loaded stages."""

    def __init__(self, pool: list[Stages], cfg: DictConfig, options: LiveOptions, token: str | None) -> None:
        self.pool, self.cfg, self.options, self.token = pool, cfg, options, token
        self.started = 0  # sessions started
        # closing a session blocks (its threads join): on threads made once, not on the loop's growing default pool
        self.closer = ThreadPoolExecutor(max_workers=len(pool), thread_name_prefix="session-close")
        self.app = web.Application()
        self.app.add_routes(
            [
                web.get("/", self.index),
                web.get("/ws", self.websocket),
                web.get("/stats", self.stats),
                web.static("/static", static_dir()),
            ]
        )

    async def stats(self, request: web.Request) -> web.StreamResponse:
        """The server's own counts (for the soak benchmark); loopback clients only."""
        if request.remote not in LOCAL_HOSTS:
            raise web.HTTPForbidden(text="stats are for loopback clients")
        return web.json_response(
            {"sessions_started": self.started, "free": len(self.pool), "tasks": len(asyncio.all_tasks()),
             "threads": threading.active_count(),
             "engines": sum(type(o).__name__ == "Engine" for o in gc.get_objects())}
        )  # fmt: skip

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(static_dir() / "index.html", headers={"Cache-Control": "no-store"})

    def _refusal(self, request: web.Request) -> str | None:
        """Why the connection may not open (a bad token or Origin), or None."""
        if self.token is not None and not secrets.compare_digest(request.query.get("token", ""), self.token):
            return "a wrong or missing access token"
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            return f"a page from another origin ({origin})"
        return None

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            log.warning("refused a connection: %s", refusal)
            raise web.HTTPForbidden(text=f"refused: {refusal}")
        ws = web.WebSocketResponse(max_msg_size=self.options.max_message_bytes, heartbeat=20.0)
        await ws.prepare(request)
        limit_send_buffer(request.transport, self.options.send_buffer_bytes)
        if not self.pool:
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=BUSY.encode())
            return ws
        stages = self.pool.pop()
        try:
            await self._session(ws, stages)
        finally:
            self.pool.append(stages)
        return ws

    async def _session(self, ws: web.WebSocketResponse, stages: Stages) -> None:
        loop = asyncio.get_running_loop()
        codec = frame_codec(self.options, stages.avatar.spec.size)
        sink = WebSocketSink(loop, codec, self.options.send_queue, self.options.sync_probe)
        try:
            first = await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT_S)
            if first.type != WSMsgType.TEXT:
                raise ProtocolError('the first message must be the JSON {"type": "hello", ...}')
            check_hello(parse_text(first.data))
        except (TimeoutError, ProtocolError) as e:
            reason = str(e) or "no hello within 10 s"
            await ws.send_json({"type": "error", "message": reason})
            await ws.close(code=getattr(e, "code", WSCloseCode.POLICY_VIOLATION), message=reason[:120].encode())
            return
        self.started += 1
        record = SessionLog(Path(str(self.cfg.out)) / "sessions", f"{time.strftime('%Y%m%d-%H%M%S')}-{self.started}")
        record.write({"type": "session", "event": "start", "time": time.time()})

        def send(message: dict[str, Any]) -> None:
            sink.send_json(message)
            record.write({**message, "logged": round(time.monotonic() - opened, 3)})

        opened = time.monotonic()
        clock = MonotonicClock()
        engine = new_engine(stages, self.cfg, sink, clock)
        engine.timeline.subscribe(EventRelay(send, engine.conversation.transcript))
        sender = asyncio.ensure_future(sink.send(ws))
        await ws.send_json({"type": "ready", "persona": stages.persona.name, "fps": stages.avatar.spec.fps,
                            "size": stages.avatar.spec.size, "sample_rate": AUDIO_RATE, "image": codec.mime,
                            "notice": "AI-generated avatar"})  # fmt: skip
        engine.start()
        muted = False
        reason = "the page ended the conversation"
        try:
            while True:
                try:
                    message = await ws.receive(timeout=1.0)
                except TimeoutError:
                    if sink.stalled_s() > self.options.stall_s:
                        reason = "the page stopped reading"
                        break
                    continue
                if message.type == WSMsgType.BINARY:
                    audio = decode_audio(message.data)
                    engine.hear(np.zeros_like(audio) if muted else audio)
                elif message.type == WSMsgType.TEXT:
                    control = parse_text(message.data)
                    if control["type"] == "mute":
                        muted = bool(control.get("muted", True))
                    elif control["type"] == "end":
                        break
                    else:
                        raise ProtocolError(f"unknown message type {control['type']!r}")
                elif message.type == WSMsgType.ERROR:
                    reason = f"connection error: {ws.exception()}"
                    break
                else:  # closed or closing: the page went away
                    reason = "the page went away"
                    break
                if sink.stalled_s() > self.options.stall_s:
                    reason = "the page stopped reading"
                    break
        except ProtocolError as e:
            reason = str(e)
            sink.send_json({"type": "error", "message": reason})
        finally:
            closing = time.monotonic()
            stages_s = await loop.run_in_executor(self.closer, engine.close)
            await loop.run_in_executor(self.closer, release_memory)
            sink.close()
            try:
                await asyncio.wait_for(sender, 5.0)
            except (TimeoutError, ConnectionError):
                sender.cancel()
            took = {**stages_s, "all": round(time.monotonic() - closing, 3)}
            log.info("session ended: %s (%d frames sent, %d dropped; closed in %.2f s)", reason, sink.frames,
                     sink.dropped, took["all"])  # fmt: skip
            record.write({"type": "session", "event": "end", "reason": reason, "frames": sink.frames,
                          "dropped": sink.dropped, "closing_s": took,
                          "transcript": engine.conversation.transcript()})  # fmt: skip
            record.close()
            if not ws.closed:
                await ws.close(message=reason[:120].encode())


def tls_context(options: LiveOptions, out_dir: Path) -> ssl.SSLContext | None:
    """The server's TLS context: the given certificate and key, or a self-signed pair made now; None on
    localhost without either."""
    cert, key = options.tls_cert, options.tls_key
    if options.self_signed and not (cert and key):
        out_dir.mkdir(parents=True, exist_ok=True)
        cert, key = str(out_dir / "self-signed.crt"), str(out_dir / "self-signed.key")
        kind = "IP" if options.host[0].isdigit() else "DNS"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=avatarlab",
             "-addext", f"subjectAltName={kind}:{options.host}", "-keyout", key, "-out", cert],
            check=True, capture_output=True,
        )  # fmt: skip
        print(f"made a self-signed certificate {cert}: the browser will ask you to accept it", flush=True)
    if not (cert and key):
        if not options.local:
            raise UserInputError(
                f"serving on {options.host} needs TLS (browsers grant the microphone only to HTTPS pages or localhost)",
                "pass live.tls_cert=CERT.pem live.tls_key=KEY.pem, or live.self_signed=true",
            )
        return None
    for path in (cert, key):
        if not Path(path).is_file():
            raise UserInputError(f"TLS file {path} does not exist", "check live.tls_cert and live.tls_key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def access_token(options: LiveOptions, environment: str | None) -> str | None:
    """The token every connection must carry: given, from the environment, or generated; None on localhost
    unless one is given."""
    token = options.token or environment
    if token is None and not options.local:
        token = secrets.token_urlsafe(16)
    return token


def serve_forever(
    pool: list[Stages], cfg: DictConfig, options: LiveOptions, token: str | None, tls: ssl.SSLContext | None
) -> None:
    """Run the server until interrupted; prints the page's address when it listens."""
    server = LiveServer(pool, cfg, options, token)
    fix_mmap_threshold()

    async def run() -> None:
        runner = web.AppRunner(server.app, handle_signals=True)
        await runner.setup()
        site = web.TCPSite(runner, options.host, options.port, ssl_context=tls)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else options.port
        scheme = "https" if tls else "http"
        query = f"?token={token}" if token else ""
        print(f"avatarlab is listening: open {scheme}://{options.host}:{port}/{query}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        print("server stopped", flush=True)
