"""Start `python serve.py` (mode=live) in a child process and wait for its address, and open its page in headless
Chromium with a fake microphone (benchmarks and tests)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SERVE = Path(__file__).resolve().parents[2] / "serve.py"
MAX_LINES = 500  # of the server's output kept


class LiveProcess:
    """A live server child process: `address` (http://host:port), `pid`, `stop()`; its output is kept."""

    def __init__(self, overrides: list[str], timeout_s: float = 240.0) -> None:
        command = [sys.executable, str(SERVE), "mode=live", "live.port=0", *overrides]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=SERVE.parent
        )
        self.lines: list[str] = []
        self.address = ""
        self.out = next((Path(o.split("=", 1)[1]) for o in overrides if o.startswith("out=")), None)
        deadline = time.monotonic() + timeout_s
        assert self.process.stdout is not None
        while not self.address and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            match = re.search(r"listening: open (https?://[^/\s]+)", line)
            self.address = match.group(1) if match else ""
        if not self.address:
            self.stop()
            raise RuntimeError("the live server did not start:\n" + "".join(self.lines[-40:]))
        # keep reading its output: a full pipe would block the server's next log line, and its event loop with it
        self._reader = threading.Thread(target=self._drain, name="live-output", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            del self.lines[:-MAX_LINES]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ws_url(self) -> str:
        return self.address.replace("http", "ws", 1) + "/ws"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def headless_chromium(microphone: Path) -> Any:
    """A Selenium driver of the system's headless Chromium (Debian packages chromium and chromium-driver, no
    browser download) whose microphone plays `microphone` (a wav) once."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from avatarlab.errors import UserInputError

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        raise UserInputError("chromium and chromedriver are missing", "run `make setup` (chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream",
                 "--use-fake-ui-for-media-stream", f"--use-file-for-fake-audio-capture={microphone}%noloop",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1100,800"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(driver))
