"""A real OpenAI-compatible chat endpoint on loopback, for the client's and the live server's tests: the first part
of the path picks the behaviour (`{url}/ok/v1`, `/slow/v1`, `/garbage/v1`, ...), as vLLM would stream it or as a
faulty server would."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY = ["Hello", " there", "!", " How", " can", " I", " help", "?"]


def chunk(content: str | None = None, finish: str | None = None, role: str | None = None) -> bytes:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    body = {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": delta}]}
    body["choices"][0]["finish_reason"] = finish
    return f"data: {json.dumps(body)}\n\n".encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log: dict[str, Any]  # set per server

    def log_message(self, *args: Any) -> None:
        pass

    def _start(self, status: int = 200, kind: str = "text/event-stream") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _send(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.log["request"] = {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        kind = self.path.split("/")[1]
        try:
            getattr(self, f"_{kind}")()
        except (BrokenPipeError, ConnectionResetError):
            self.log["disconnected_at"] = time.monotonic()
        self.close_connection = True

    def _ok(self) -> None:
        self._start()
        self._send(b": a comment line\n\n" + chunk(role="assistant", content=""))
        for piece in REPLY:
            self._send(chunk(piece))
            time.sleep(0.005)
        self._send(chunk(finish="stop") + b"data: [DONE]\n\n")
        self._end()

    def _garbage(self) -> None:
        self._start(kind="text/html")
        self._send(b"<html><body>It works!</body></html>\n")
        self._end()

    def _badjson(self) -> None:
        self._start()
        self._send(chunk("Hi") + b"data: {not json\n\n")
        self._end()

    def _notchunk(self) -> None:
        self._start()
        self._send(b'data: {"choices": "nope"}\n\n')
        self._end()

    def _errorevent(self) -> None:
        self._start()
        self._send(b'data: {"error": {"message": "the model is overloaded"}}\n\n')
        self._end()

    def _status500(self) -> None:
        data = b'{"error": {"message": "internal failure"}}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status401(self) -> None:
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _slow(self) -> None:
        self._start()
        self._send(chunk("Hel"))
        time.sleep(1.5)  # past the client's read timeout

    def _stuck(self) -> None:
        self._start()
        time.sleep(20.0)  # an overloaded server: the request is taken, nothing comes

    def _early(self) -> None:
        self._start()
        self._send(chunk("Hel") + chunk("lo"))
        self._end()  # no [DONE]

    def _endless(self) -> None:
        self._start()
        for i in range(500):  # at most 10 s
            self._send(chunk(f" w{i}"))
            time.sleep(0.02)
        self._end()

    def _trickle(self) -> None:
        self._start()
        for i in range(20):  # a piece a second: the client is blocked in a read when cancelled
            self._send(chunk(f" w{i}"))
            time.sleep(1.0)
        self._end()


@contextmanager
def chat_endpoint() -> Iterator[tuple[str, dict[str, Any]]]:
    """(base URL, what the handlers saw) of a server running until the block ends."""
    log: dict[str, Any] = {}
    handler = type("LoggedHandler", (Handler,), {"log": log})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", log
    finally:
        httpd.shutdown()
        httpd.server_close()
