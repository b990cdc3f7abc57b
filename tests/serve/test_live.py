"""`python serve.py` (mode=live) on loopback: the page in a real headless Chromium with a fake microphone, and the
WebSocket protocol's faults (bad hello, malformed and oversized messages, foreign origins, a second page while
one talks, a page that goes away, a page that stops reading, a language model that is down or stuck)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import soundfile as sf

from avatarlab.bench.soak import process_counts
from avatarlab.runtime.tts import EspeakTTS
from avatarlab.serve.launch import LiveProcess, headless_chromium
from avatarlab.serve.transport import unpack_frame
from tests.helpers.chat_endpoint import chat_endpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(avatar_bundle: Path, tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveProcess]:
    """A live server on a free loopback port, sending WebP frames (the page decodes what "ready" names)."""
    out = tmp_path_factory.mktemp("live")
    process = LiveProcess(
        [f"avatar_bundle={avatar_bundle}", f"turn_bundle={tiny_bundle}", f"out={out}", "engine.idle_frames=10",
         "engine.greet=false", "llm.max_new_tokens=24", "live.image_format=webp"]
    )  # fmt: skip
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def server(live: LiveProcess) -> str:
    return live.address


def speech_wav(path: Path, text: str, before_s: float, after_s: float) -> Path:
    """A user's turn as the fake microphone plays it: silence, speech (espeak-ng, a British voice), silence."""
    spoken = EspeakTTS("en-gb-x-rp+m3", 160, 45, 50).synthesize(text).audio
    audio = np.r_[np.zeros(int(before_s * 16000)), spoken, np.zeros(int(after_s * 16000))].astype(np.float32)
    sf.write(path, audio, 16000, subtype="PCM_16")
    return path


def ws_url(address: str) -> str:
    return address.replace("http://", "ws://") + "/ws"


async def _first_reply(address: str, **headers: str) -> tuple[list[dict], int | None, str]:
    """Connect, send a wrong hello, and collect what comes back."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(address), headers=headers) as ws:
            await ws.send_str(json.dumps({"type": "hello", "sample_rate": 44100, "channels": 2}))
            texts = [json.loads(m.data) async for m in ws if m.type == aiohttp.WSMsgType.TEXT]
            return texts, ws.close_code, ""


def test_a_wrong_audio_format_is_refused_with_the_reason(server: str) -> None:
    texts, code, _ = asyncio.run(_first_reply(server))
    assert texts and texts[0]["type"] == "error" and "16000 Hz mono" in texts[0]["message"]
    assert code == 1003


def test_malformed_oversized_and_foreign_messages(server: str) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url(server)) as ws:  # not JSON where the hello must be
                await ws.send_str("{hello")
                message = await ws.receive_json()
                assert message["type"] == "error" and "JSON" in message["message"]
            async with session.ws_connect(ws_url(server)) as ws:  # binary where the hello must be
                await ws.send_bytes(b"\x00\x01")
                assert "hello" in (await ws.receive_json())["message"]
            async with await open_session(session, ws_url(server)) as ws:  # more than max_message_bytes
                await ws.send_bytes(b"\x00" * 200_000)
                async for _ in ws:
                    pass
                assert ws.close_code == 1009
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # a page from another site
                await session.ws_connect(ws_url(server), headers={"Origin": "https://evil.example"})
            assert refused.value.status == 403

    asyncio.run(run())


HELLO = json.dumps({"type": "hello", "sample_rate": 16000, "channels": 1})


async def open_session(session: aiohttp.ClientSession, url: str, tries: int = 50) -> aiohttp.ClientWebSocketResponse:
    """A conversation once the server is free (an earlier one may still be closing): the socket after "ready"."""
    for _ in range(tries):
        ws = await session.ws_connect(url)
        await ws.send_str(HELLO)
        reply = await ws.receive()
        if reply.type == aiohttp.WSMsgType.TEXT and json.loads(reply.data)["type"] == "ready":
            return ws
        await ws.close()
        await asyncio.sleep(0.2)
    raise AssertionError("the server stayed busy")


def test_a_second_page_is_busy_and_a_page_that_leaves_frees_the_session(server: str) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            first = await open_session(session, ws_url(server))
            await first.send_bytes(np.zeros(320, "<i2").tobytes())
            frame = await first.receive(timeout=10)
            while frame.type == aiohttp.WSMsgType.TEXT:
                frame = await first.receive(timeout=10)
            assert len(unpack_frame(frame.data).audio) == 640  # 40 ms of audio with every frame
            async with session.ws_connect(ws_url(server)) as second:
                closing = await second.receive(timeout=10)
                assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1013 and "busy" in closing.extra
            await first.close()  # leaves mid-session, without "end"
            third = await open_session(session, ws_url(server))  # the server frees the session
            await third.send_str(json.dumps({"type": "end"}))
            async for _ in third:
                pass
            assert third.close_code == 1000

    asyncio.run(run())


def test_the_page_talks_in_a_real_browser(live: LiveProcess, tmp_path: Path) -> None:
    server = live.address
    wav = speech_wav(tmp_path / "user.wav", "Hello there. What is your favourite colour?", 1.0, 12.0)
    browser = headless_chromium(wav)
    try:
        browser.get(server + "/")
        assert "AI-generated avatar" in browser.find_element("id", "ai-label").text
        browser.find_element("id", "start").click()
        shot = tmp_path / "page_mid_reply.png"
        deadline = time.monotonic() + 90
        stats: dict = {}
        while time.monotonic() < deadline:
            stats = browser.execute_script("return window.avatarlab")
            # mid-reply; a short reply can play between two polls of a loaded machine, then just after its start
            if (stats["state"] == "speaking" or stats["latencies"]) and not shot.exists():
                browser.save_screenshot(str(shot))
            if stats["latencies"] and stats["state"] == "listening":
                break
            time.sleep(0.2)
        transcript = browser.find_element("id", "transcript").text
        latency = browser.find_element("id", "latency").text
        error = browser.find_element("id", "error")
        print(f"page stats: {stats}\ntranscript:\n{transcript}\nlatency: {latency}\nscreenshot: {shot}")
        assert not error.is_displayed(), error.text
        # a frame's audio is counted before its image is decoded: the two counts are compared once the socket is closed
        assert stats["frames"] > 50 and stats["audioChunks"] >= stats["frames"] and stats["drawn"] > 25
        assert stats["latencies"] and re.fullmatch(r"\d+ ms", latency)
        assert "You:" in transcript and "Avatar:" in transcript
        assert shot.is_file() and shot.stat().st_size > 5000
        browser.find_element("id", "end").click()
        ended = time.monotonic()  # the server stops the session's threads, then closes the socket
        while not browser.execute_script("return window.avatarlab.closed") and time.monotonic() < ended + 10.0:
            time.sleep(0.1)
        print(f"socket closed {time.monotonic() - ended:.2f} s after the page ended the conversation")
        newest = max(live.out.glob("sessions/*.jsonl"), key=lambda p: p.stat().st_mtime)
        print("the session's end:", [r for r in map(json.loads, newest.read_text().splitlines()) if "closing_s" in r])
        assert browser.execute_script("return window.avatarlab.closed") == "the page ended the conversation"
        settled = time.monotonic() + 5.0  # the last images decoded
        final = browser.execute_script("return window.avatarlab")
        while final["audioChunks"] != final["frames"] and time.monotonic() < settled:
            time.sleep(0.1)
            final = browser.execute_script("return window.avatarlab")
        assert final["audioChunks"] == final["frames"] > 50  # every frame came with its audio
    finally:
        browser.quit()


async def _talk(ws: aiohttp.ClientWebSocketResponse, wav: Path) -> None:
    """Send a recording as the microphone would, in real time (20 ms chunks)."""
    audio, _ = sf.read(str(wav), dtype="int16")
    started = time.monotonic()
    for i in range(0, len(audio), 320):
        await ws.send_bytes(audio[i : i + 320].astype("<i2").tobytes())
        await asyncio.sleep(max(0.0, started + (i + 320) / 16000 - time.monotonic()))


def test_eight_pages_at_once_are_refused_and_the_talking_one_keeps_its_frame_rate(server: str) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            active = await open_session(session, ws_url(server))
            frames: list[float] = []

            async def count() -> None:
                async for message in active:
                    if message.type == aiohttp.WSMsgType.BINARY:
                        frames.append(time.monotonic())

            counter = asyncio.ensure_future(count())
            await asyncio.sleep(1.0)
            crowd = await asyncio.gather(*(session.ws_connect(ws_url(server)) for _ in range(8)))
            closings = await asyncio.gather(*(ws.receive(timeout=10) for ws in crowd))
            assert all(c.type == aiohttp.WSMsgType.CLOSE and c.data == 1013 for c in closings)
            await asyncio.sleep(3.0)
            window = [t for t in frames if t >= frames[-1] - 3.0]
            assert len(window) >= 60, f"{len(window)} frames in 3 s while 8 pages were turned away"
            await active.send_str(json.dumps({"type": "end"}))
            await counter

    asyncio.run(run())


def test_a_page_that_leaves_mid_reply_frees_the_session(server: str, tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "ask.wav", "Tell me a story about a cat.", 0.5, 2.5)

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            ws = await open_session(session, ws_url(server))
            talking = asyncio.ensure_future(_talk(ws, wav))
            state = None
            deadline = time.monotonic() + 60
            while state != "speaking" and time.monotonic() < deadline:
                message = await ws.receive(timeout=30)
                if message.type == aiohttp.WSMsgType.TEXT:
                    state = json.loads(message.data).get("state", state)
            assert state == "speaking"
            talking.cancel()
            await ws.close()  # gone mid-reply
            again = await open_session(session, ws_url(server))
            await again.send_str(json.dumps({"type": "end"}))

    asyncio.run(run())


@pytest.fixture(scope="module")
def remote(avatar_bundle: Path, tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveProcess]:
    """A server bound off 127.0.0.1 (so: a token and a self-signed TLS pair), whose language model endpoint is
    down (nothing listens on its port)."""
    out = tmp_path_factory.mktemp("remote")
    process = LiveProcess(
        [f"avatar_bundle={avatar_bundle}", f"turn_bundle={tiny_bundle}", f"out={out}", "engine.idle_frames=10",
         "engine.greet=false", "live.host=127.0.0.2", "live.self_signed=true", "serve/llm@llm=openai",
         "llm.base_url=http://127.0.0.1:9/v1", "llm.model=none", "llm.connect_timeout_s=0.5"]
    )  # fmt: skip
    try:
        yield process
    finally:
        process.stop()


def test_off_loopback_the_token_is_required_and_a_dead_model_endpoint_is_survived(
    remote: LiveProcess, tmp_path: Path
) -> None:
    assert remote.address.startswith("https://127.0.0.2:")
    token = next(
        re.search(r"access token[^:]*: (\S+)", line).group(1) for line in remote.lines if "access token" in line
    )
    url = remote.ws_url
    wav = speech_wav(tmp_path / "ask.wav", "What is your favourite colour?", 0.5, 3.0)

    async def run() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            for query in ("", "?token=wrong"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(url + query)
                assert refused.value.status == 403
            ws = await open_session(session, f"{url}?token={token}")
            talking = asyncio.ensure_future(_talk(ws, wav))
            notices: list[str] = []
            deadline = time.monotonic() + 60
            while not notices and time.monotonic() < deadline:
                message = await ws.receive(timeout=30)
                if message.type == aiohttp.WSMsgType.TEXT and json.loads(message.data)["type"] == "notice":
                    notices.append(json.loads(message.data)["message"])
            assert notices and "language model failed" in notices[0]
            await talking
            await ws.send_str(json.dumps({"type": "end"}))
        assert remote.alive()

    asyncio.run(run())
    assert remote.out is not None
    text = ""
    for _ in range(60):  # the session's record is complete once the server has closed it
        text = "".join(p.read_text() for p in sorted(remote.out.glob("sessions/*.jsonl")))
        if '"event": "end"' in text:
            break
        time.sleep(0.5)
    assert '"event": "end"' in text and "language model failed" in text
    assert token not in text


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """One client-to-server WebSocket frame (RFC 6455: FIN set, payload masked)."""
    mask = os.urandom(4)
    size = len(payload)
    length = bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack(">H", size)
    head = bytes([0x80 | opcode]) + length
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def raw_session(address: str) -> socket.socket:
    """A WebSocket session opened by hand on a socket with a small receive buffer, so that a client that stops
    reading pushes back on the server through TCP itself (a client library would go on buffering)."""
    host, port = address.removeprefix("http://").rstrip("/").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    sock.sendall(masked_frame(0x1, HELLO.encode()))
    return sock


def session_ends(out: Path, count: int, timeout_s: float) -> list[dict]:
    """The "end" records of the server's session logs, once there are `count` of them."""
    ends: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = [json.loads(line) for p in sorted(out.glob("sessions/*.jsonl")) for line in p.read_text().splitlines()]
        ends = [r for r in lines if r.get("type") == "session" and r.get("event") == "end"]
        if len(ends) >= count:
            break
        time.sleep(0.5)
    return ends


def test_a_page_that_stops_reading_loses_frames_and_is_closed_not_buffered(live: LiveProcess) -> None:
    async def a_page_talks() -> None:
        async with aiohttp.ClientSession() as session:
            ws = await open_session(session, ws_url(live.address))
            message = await ws.receive(timeout=10)
            while message.type == aiohttp.WSMsgType.TEXT:
                message = await ws.receive(timeout=10)
            assert message.type == aiohttp.WSMsgType.BINARY
            await ws.send_str(json.dumps({"type": "end"}))
            async for _ in ws:
                pass

    assert live.out is not None
    asyncio.run(a_page_talks())  # the server's first session allocates what every later one reuses
    before = len(session_ends(live.out, len(list(live.out.glob("sessions/*.jsonl"))), 30.0))  # all closed
    rss = process_counts(live.pid)["rss_mb"]
    sock = raw_session(live.address)
    try:
        ends = session_ends(live.out, before + 1, 60.0)  # it reads nothing more: the server must give up on it
    finally:
        sock.close()
    assert len(ends) == before + 1, "the server kept a page that stopped reading"
    end = ends[-1]
    assert end["reason"] == "the page stopped reading" and end["dropped"] > 0 and end["frames"] > end["dropped"]
    assert process_counts(live.pid)["rss_mb"] - rss < 20  # the frames it could not send were dropped, not kept
    assert live.alive()
    asyncio.run(a_page_talks())  # the next page talks as usual


@pytest.fixture(scope="module")
def stuck_model(
    avatar_bundle: Path, tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveProcess]:
    """A live server whose language model endpoint takes each request and then sends nothing."""
    out = tmp_path_factory.mktemp("stuck")
    with chat_endpoint() as (url, _):
        process = LiveProcess(
            [f"avatar_bundle={avatar_bundle}", f"turn_bundle={tiny_bundle}", f"out={out}", "engine.idle_frames=10",
             "engine.greet=false", "serve/llm@llm=openai", f"llm.base_url={url}/stuck/v1", "llm.model=stuck",
             "llm.read_timeout_s=2.0"]
        )  # fmt: skip
        try:
            yield process
        finally:
            process.stop()


def test_a_stuck_model_endpoint_gets_a_notice_and_the_avatar_keeps_its_frame_rate(
    stuck_model: LiveProcess, tmp_path: Path
) -> None:
    wav = speech_wav(tmp_path / "ask.wav", "What is your favourite colour?", 0.5, 4.0)

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            ws = await open_session(session, ws_url(stuck_model.address))
            talking = asyncio.ensure_future(_talk(ws, wav))
            frames: list[float] = []
            notices: list[tuple[float, str]] = []
            deadline = time.monotonic() + 60
            while not notices and time.monotonic() < deadline:
                message = await ws.receive(timeout=30)
                if message.type == aiohttp.WSMsgType.BINARY:
                    frames.append(time.monotonic())
                elif json.loads(message.data)["type"] == "notice":
                    notices.append((time.monotonic(), json.loads(message.data)["message"]))
            assert notices and "language model failed" in notices[0][1] and "2 s" in notices[0][1], notices
            waiting = [t for t in frames if notices[0][0] - 2.0 <= t <= notices[0][0]]
            assert len(waiting) >= 40, f"{len(waiting)} frames in the 2 s the model kept the reply waiting"
            await talking
            asked = time.monotonic()
            await ws.send_str(json.dumps({"type": "end"}))
            async for _ in ws:
                pass
            assert ws.close_code == 1000 and time.monotonic() - asked < 5.0

    asyncio.run(run())
    assert stuck_model.alive()
