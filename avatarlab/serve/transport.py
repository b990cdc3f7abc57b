"""The live page's wire format, and the output sink that feeds a WebSocket from the player's thread.

Down (server -> page), one binary message per 40 ms tick, little-endian:

    u8 kind (1) | 3 bytes padding | f64 t (session seconds of the tick) | i32 reply (-1: none) | u32 n |
    n bytes PCM16 audio | the frame as an image (JPEG or WebP: the session's "ready" message says which)

(the padding puts the audio at byte 20, where a page can view it as 16-bit samples without a copy).

Up (page -> server): binary messages of PCM16 mono audio at the rate the session's `hello` declared (16 kHz).
Both ways, text messages are JSON objects with a `type` (see avatarlab/serve/live.py).
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

FRAME = 1
HEADER = struct.Struct("<B3xdiI")  # kind, t, reply, audio bytes: 20 bytes


@dataclass(frozen=True)
class FrameMessage:
    """A decoded down message."""

    t: float
    reply: int | None
    audio: np.ndarray  # [n] float32
    image: bytes


IMAGE_FORMATS = ("jpeg", "webp")
WEBP_METHOD = 2  # libwebp's effort, 0-6: 2 encodes 256 px in about 5 ms (4, the usual default: 13 ms) for 3% more bytes


@dataclass(frozen=True)
class FrameCodec:
    """How each frame is compressed for the page: format "jpeg" or "webp", quality 1-100."""

    format: str
    quality: int

    def __post_init__(self) -> None:
        if self.format not in IMAGE_FORMATS or not 1 <= self.quality <= 100:
            raise ValueError(f"need a format in {IMAGE_FORMATS} and a quality in 1-100, not {self}")

    @property
    def mime(self) -> str:
        return f"image/{self.format}"

    def encode(self, frame: np.ndarray) -> bytes:
        """[S, S, 3] uint8 RGB -> image bytes."""
        if self.format == "jpeg":
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if not ok:
                raise RuntimeError("JPEG encoding failed")
            return data.tobytes()
        out = io.BytesIO()
        Image.fromarray(frame).save(out, "WEBP", quality=self.quality, method=WEBP_METHOD)
        return out.getvalue()


def decode_image(data: bytes) -> np.ndarray:
    """JPEG or WebP bytes -> [S, S, 3] uint8 RGB."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a JPEG or WebP image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def pcm16(audio: np.ndarray) -> bytes:
    """float32 samples in [-1, 1] -> little-endian PCM16 bytes."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def pack_frame(t: float, reply: int | None, audio: np.ndarray, image: bytes) -> bytes:
    samples = pcm16(audio)
    return HEADER.pack(FRAME, t, -1 if reply is None else reply, len(samples)) + samples + image


def unpack_frame(message: bytes) -> FrameMessage:
    kind, t, reply, n = HEADER.unpack_from(message)
    if kind != FRAME:
        raise ValueError(f"not a frame message (kind {kind})")
    start = HEADER.size
    audio = np.frombuffer(message, "<i2", count=n // 2, offset=start).astype(np.float32) / 32767.0
    return FrameMessage(t, None if reply < 0 else reply, audio, message[start + n :])


PROBE_EVERY = 25  # ticks between two sync marks (1 s)
PROBE_SIZE = 12  # pixels of the mark's square, in the frame's top-left corner
PROBE_HZ = 1000.0


def mark_for_sync(t: float, frame: np.ndarray, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sync probe: a white corner square on the frame of every PROBE_EVERY-th tick, whose audio becomes a
    1 kHz tone; a black square on every other frame, and its audio unchanged. Copies, never the player's
    buffers. A recording of the page then shows, outside the page's own bookkeeping, where video and audio
    marks fall (avatarlab.bench.sync)."""
    frame = frame.copy()
    marked = round(t * 25) % PROBE_EVERY == 0
    frame[:PROBE_SIZE, :PROBE_SIZE] = 255 if marked else 0
    if marked:
        audio = (0.5 * np.sin(2 * np.pi * PROBE_HZ * np.arange(len(audio)) / 16000)).astype(np.float32)
    return frame, audio


class WebSocketSink:
    """The player's output for one page: each tick encoded and handed to the event loop's send queue.

    `write` runs on the player's thread; `send` (a coroutine on the loop) drains the queue into the socket. A page
    that does not read its messages fills the queue: further frames are dropped (counted), and `stalled_s` says
    for how long, so the session can close it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, codec: FrameCodec, max_queue: int, sync_probe: bool) -> None:
        self.loop, self.codec, self.sync_probe = loop, codec, sync_probe
        self.queue: asyncio.Queue[bytes | str | None] = asyncio.Queue(max_queue)
        self.frames = 0
        self.dropped = 0
        self.bytes_sent = 0
        self.video_bytes = 0
        self._stalled_since: float | None = None
        self._lock = threading.Lock()
        self._closed = False

    def write(self, t: float, frame: np.ndarray, audio: np.ndarray, reply: int | None) -> None:
        if self._closed:
            return
        if self.sync_probe:
            frame, audio = mark_for_sync(t, frame, audio)
        image = self.codec.encode(frame)
        message = pack_frame(t, reply, audio, image)
        with self._lock:
            self.frames += 1
            self.video_bytes += len(image)
        self.loop.call_soon_threadsafe(self._put, message, t)

    def send_json(self, payload: dict[str, Any]) -> None:
        """Queue a JSON event (any thread); events are never dropped for a full queue, frames are."""
        if not self._closed:
            self.loop.call_soon_threadsafe(self._put, json.dumps(payload, default=str), None)

    def _put(self, message: bytes | str, t: float | None) -> None:
        if self.queue.full():
            if isinstance(message, bytes):
                self.dropped += 1
                if self._stalled_since is None:
                    self._stalled_since = self.loop.time()
                return
            self.queue.get_nowait()  # an event displaces the oldest message
            self.dropped += 1
        if isinstance(message, bytes):
            self._stalled_since = None
        self.queue.put_nowait(message)

    def stalled_s(self) -> float:
        """How long frames have been dropped for a full queue (0: they are not)."""
        return 0.0 if self._stalled_since is None else self.loop.time() - self._stalled_since

    def close(self) -> None:
        """No more messages; the sender ends after what is queued."""
        self._closed = True
        self.loop.call_soon_threadsafe(self._end)

    def _end(self) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def send(self, ws: Any) -> None:
        """Drain the queue into `ws` (an aiohttp WebSocketResponse) until close()."""
        while (message := await self.queue.get()) is not None:
            if ws.closed:
                return
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_str(message)
            self.bytes_sent += len(message)
