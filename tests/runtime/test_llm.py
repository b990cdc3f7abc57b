"""The OpenAI-compatible client against real HTTP servers on loopback, started here: a well-formed stream
(chunked, as vLLM sends it), garbage, HTTP errors, a slow server, one that is down, one that stops early;
cancellation from another thread and from an asyncio task shuts the connection."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from avatarlab.config_args import config_args
from avatarlab.runtime.llm import Generation, LLMError, OpenAIChatLLM, async_pieces, check_messages
from tests.helpers.chat_endpoint import REPLY, chat_endpoint

CONFIG = "serve/llm/openai.yaml"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
CANCEL_BOUND_S = 0.1
Server = tuple[str, dict[str, Any]]  # base URL, what the handlers saw


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with chat_endpoint() as endpoint:
        yield endpoint


def client(base_url: str, **overrides: Any) -> OpenAIChatLLM:
    args = config_args(CONFIG, model="test-model", base_url=base_url, **overrides)
    return OpenAIChatLLM(**args)


def test_the_config_sets_every_argument() -> None:
    args = config_args(CONFIG, model="m")
    assert set(args) == {
        "base_url",
        "model",
        "api_key_env",
        "connect_timeout_s",
        "read_timeout_s",
        "total_timeout_s",
        "max_tokens",
        "temperature",
    }


def test_a_stream_arrives_piece_by_piece(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, log = server
    monkeypatch.setenv("AVATARLAB_TEST_KEY", "sk-test")
    generation = client(f"{url}/ok/v1", api_key_env="AVATARLAB_TEST_KEY").stream(MESSAGES)
    assert isinstance(generation, Generation)
    got = list(generation)
    assert got == REPLY and generation.text == "".join(REPLY) and generation.pieces == len(REPLY)
    assert generation.finish_reason == "stop" and 0 < generation.first_piece_s < generation.finished_at
    request = log["request"]
    assert request["path"] == "/ok/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    body = request["body"]
    assert body["stream"] is True and body["model"] == "test-model" and body["messages"] == MESSAGES
    assert body["max_tokens"] == config_args(CONFIG, model="m")["max_tokens"]


def test_no_key_no_authorization(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, log = server
    monkeypatch.delenv("AVATARLAB_TEST_KEY", raising=False)
    assert list(client(f"{url}/ok/v1", api_key_env="AVATARLAB_TEST_KEY").stream(MESSAGES)) == REPLY
    assert log["request"]["auth"] is None


@pytest.mark.parametrize(
    "path,message",
    [
        ("garbage", "not an OpenAI event stream"),
        ("badjson", "an event is not JSON"),
        ("notchunk", "not a chat.completion.chunk"),
        ("errorevent", "the model is overloaded"),
        ("status500", "HTTP 500 .*internal failure"),
        ("status401", r"HTTP 401 .*is AVATARLAB_TEST_KEY set\?"),
        ("early", r"ended before \[DONE\]"),
    ],
)
def test_bad_answers_raise_a_clear_error(server: Server, path: str, message: str) -> None:
    url, _ = server
    generation = client(f"{url}/{path}/v1", api_key_env="AVATARLAB_TEST_KEY").stream(MESSAGES)
    with pytest.raises(LLMError, match=message):
        list(generation)
    assert generation.finish_reason == "error"


def test_a_slow_server_times_out(server: Server) -> None:
    url, _ = server
    generation = client(f"{url}/slow/v1", read_timeout_s=0.3).stream(MESSAGES)
    t = time.monotonic()
    with pytest.raises(LLMError, match="no data for 0.3 s"):
        list(generation)
    assert time.monotonic() - t < 1.0 and generation.text == "Hel"


def test_the_whole_reply_is_bounded(server: Server) -> None:
    url, _ = server
    t = time.monotonic()
    with pytest.raises(LLMError, match="longer than 0.2 s"):
        list(client(f"{url}/endless/v1", total_timeout_s=0.2).stream(MESSAGES))
    assert time.monotonic() - t < 0.5


def test_a_server_that_is_down() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LLMError, match=f"cannot connect to http://127.0.0.1:{port}/v1/chat/completions"):
        list(client(f"http://127.0.0.1:{port}/v1").stream(MESSAGES))


def test_cancel_between_pieces(server: Server) -> None:
    url, log = server
    log.pop("disconnected_at", None)
    generation = client(f"{url}/endless/v1").stream(MESSAGES)
    got = []
    for piece in generation:
        got.append(piece)
        if len(got) == 2:
            t = time.monotonic()
            generation.cancel()
    stopped = time.monotonic() - t
    assert got == [" w0", " w1"] and generation.finish_reason == "cancelled"
    assert stopped < CANCEL_BOUND_S, stopped
    deadline = time.monotonic() + 1.0
    while "disconnected_at" not in log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "disconnected_at" in log  # the server saw the connection go


def test_cancel_from_another_thread_unblocks_a_read(server: Server) -> None:
    url, _ = server
    generation = client(f"{url}/trickle/v1").stream(MESSAGES)
    got: list[str] = []
    done = threading.Event()

    def consume() -> None:
        got.extend(generation)
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    while not got:
        time.sleep(0.01)
    time.sleep(0.2)  # the consumer is now waiting for the next piece (a second away)
    t = time.monotonic()
    generation.cancel()
    assert done.wait(2.0)
    stopped = time.monotonic() - t
    print(f"cancel -> blocked read returned: {stopped * 1000:.1f} ms")
    assert got == [" w0"] and stopped < CANCEL_BOUND_S and generation.finish_reason == "cancelled"


def test_an_asyncio_consumer_cancels_the_generation(server: Server) -> None:
    url, _ = server

    async def main() -> tuple[Generation, list[str]]:
        generation = client(f"{url}/endless/v1").stream(MESSAGES)
        got: list[str] = []

        async def consume() -> None:
            async for piece in async_pieces(generation, maxsize=4):
                got.append(piece)

        task = asyncio.create_task(consume())
        while len(got) < 3:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return generation, got

    generation, got = asyncio.run(main())
    assert generation.cancelled and got[:3] == [" w0", " w1", " w2"]
    deadline = time.monotonic() + 1.0
    while generation.finished_at is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert generation.finish_reason == "cancelled"


def test_an_asyncio_consumer_gets_the_error(server: Server) -> None:
    url, _ = server

    async def main() -> list[str]:
        return [p async for p in async_pieces(client(f"{url}/badjson/v1").stream(MESSAGES), maxsize=4)]

    with pytest.raises(LLMError, match="not JSON"):
        asyncio.run(main())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="http"):
        client("127.0.0.1:8000/v1")
    with pytest.raises(ValueError, match="last message"):
        check_messages([{"role": "system", "content": "x"}])
    with pytest.raises(ValueError, match="message 0"):
        check_messages([{"role": "robot", "content": "x"}])
