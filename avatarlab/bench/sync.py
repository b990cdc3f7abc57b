"""Audio/video sync of the live page, measured outside its own bookkeeping: `python -m avatarlab.bench.sync`.

Starts `python serve.py` with `live.sync_probe=true` (every second, one frame carries a white corner square and
its 40 ms of audio a 1 kHz tone), opens the page in headless Chromium with a fake microphone that asks a few
questions, and records the page itself for `seconds` (its canvas and the avatar's audio, with MediaRecorder).
The recording is decoded (PyAV): each white square's first frame is paired with the nearest tone onset. Prints
the p95 of |video - audio| and the drift (ms per minute: the slope of the offsets, less the one-refresh steps of
the display's own clock sliding past the marks). The bars: p95 at most 40 ms,
drift at most 5 ms per minute. Writes OUT/sync.json and the recording.
"""

from __future__ import annotations

import base64
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from avatarlab.atomic import atomic_path, save_json
from avatarlab.cli import checked, key_value_options
from avatarlab.errors import UserInputError, exit_with
from avatarlab.serve.launch import LiveProcess, headless_chromium
from avatarlab.serve.transport import PROBE_HZ

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = {
    "seconds": 120,
    "avatar_bundle": str(ROOT / "bundles" / "avatar_quickstart"),
    "turn_bundle": str(ROOT / "bundles" / "turn_quickstart"),
    "out": str(ROOT / "outputs" / "bench_sync"),
    "overrides": "",
}
QUESTIONS = ("Hello, how are you today?", "What is your favourite colour?", "Tell me about your weekend.",
             "Do you like music?", "What should I cook tonight?")  # fmt: skip
P95_BAR_MS, DRIFT_BAR_MS = 40.0, 5.0


def microphone(path: Path, seconds: float) -> Path:
    """The fake microphone: a question every 25 s (espeak-ng), silence between."""
    from avatarlab.runtime.tts import EspeakTTS

    voice = EspeakTTS("en-gb-x-rp+m3", 160, 45, 50)
    audio = np.zeros(int((seconds + 10) * 16000), np.float32)
    for i, start in enumerate(np.arange(3.0, seconds, 25.0)):
        spoken = voice.synthesize(QUESTIONS[i % len(QUESTIONS)]).audio
        at = int(start * 16000)
        audio[at : at + len(spoken)] = spoken[: len(audio) - at]
    sf.write(path, audio, 16000, subtype="PCM_16")
    return path


def record_page(address: str, wav: Path, seconds: float) -> bytes:
    """Open the page in headless Chromium, start talking, record it for `seconds`; the WebM bytes."""
    browser = headless_chromium(wav)
    try:
        browser.get(address + "/")
        browser.find_element("id", "start").click()
        deadline = time.monotonic() + 60
        while browser.execute_script("return window.avatarlab.frames") < 25 and time.monotonic() < deadline:
            time.sleep(0.2)
        browser.execute_script("window.avatarlab.record(arguments[0]).then((r) => { window.recorded = r; });", seconds)
        deadline = time.monotonic() + seconds + 120
        while not browser.execute_script("return Boolean(window.recorded)") and time.monotonic() < deadline:
            time.sleep(1.0)
        encoded = browser.execute_script("return window.recorded || ''")
        if not encoded:
            raise RuntimeError("the page's recording did not finish")
        stats = browser.execute_script("return window.avatarlab")
        print(f"page: {stats['frames']} frames received, {stats['drawn']} drawn, {stats['reanchors']} re-anchors,"
              f" replies {len(stats['latencies'])}", flush=True)  # fmt: skip
        return base64.b64decode(encoded)
    finally:
        browser.quit()


def marks(recording: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(video mark times, audio tone onsets) in seconds of the recording."""
    import av

    video_t, audio_parts, rate, audio_start = [], [], 48000, None
    with av.open(io.BytesIO(recording)) as container:
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="rgb24")
            side = max(2, image.shape[0] * 10 // 256)  # the square is 12 px of 128 (24 of the 256 px canvas)
            white = image[1:side, 1:side].mean() > 200
            video_t.append((float(frame.time), white))
    with av.open(io.BytesIO(recording)) as container:
        for frame in container.decode(audio=0):
            if audio_start is None:
                audio_start = float(frame.time)
            rate = frame.sample_rate
            audio_parts.append(frame.to_ndarray().reshape(-1, frame.samples).mean(axis=0))
    onsets_v = [t for (t, w), (_, before) in zip(video_t[1:], video_t[:-1]) if w and not before]
    audio = np.concatenate(audio_parts) if audio_parts else np.zeros(0)
    return np.array(onsets_v), tone_onsets(audio, rate) + (audio_start or 0.0)


def tone_onsets(audio: np.ndarray, rate: int, hop_s: float = 0.0025) -> np.ndarray:
    """Onsets (s) of the 1 kHz probe tone: where its share of a 10 ms window's energy first passes 80%."""
    hop, width = int(rate * hop_s), int(rate * 0.01)
    n = (len(audio) - width) // hop
    if n <= 0:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(audio, width)[::hop][:n]  # [n, width]
    phase = 2j * np.pi * PROBE_HZ * np.arange(width) / rate
    tone = np.abs(frames @ np.exp(-phase)) ** 2 * 2 / width
    total = (frames**2).sum(axis=1) + 1e-12
    on = (tone / total > 0.8) & (total / width > 1e-3)
    starts = np.flatnonzero(on[1:] & ~on[:-1]) + 1
    return starts * hop_s


def pair(video: np.ndarray, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(times, video - audio offsets) of the video marks with a tone onset within 0.4 s."""
    times, offsets = [], []
    for t in video:
        if len(audio):
            nearest = audio[np.argmin(np.abs(audio - t))]
            if abs(nearest - t) < 0.4:
                times.append(t)
                offsets.append(t - nearest)
    return np.array(times), np.array(offsets)


REFRESH_S = 1 / 60  # the page draws on display refreshes


def unwrap_refresh(offsets: np.ndarray, period: float = REFRESH_S) -> np.ndarray:
    """Offsets with their whole-refresh steps removed: a mark is drawn at the first refresh after its time, so as
    the display's clock slides against the audio clock the offset is a sawtooth one refresh high. A step of about
    one refresh between two marks a second apart is that wrap, not drift (which moves it by a fraction of a ms)."""
    out = np.array(offsets, np.float64)
    for i in range(1, len(out)):
        step = out[i] - out[i - 1]
        if abs(step) > period / 2:
            out[i:] -= round(step / period) * period
    return out


def sync_figures(times: np.ndarray, offsets: np.ndarray) -> dict[str, Any]:
    """p95 of |offset| (what is seen) and the drift: the slope of the offsets, display-refresh wraps removed."""
    if len(offsets) < 3:
        return {"marks": int(len(offsets))}
    drift = float(np.polyfit(times / 60.0, unwrap_refresh(offsets) * 1000.0, 1)[0])
    return {
        "marks": int(len(offsets)),
        "median_offset_ms": round(float(np.median(offsets)) * 1000, 1),
        "p95_abs_offset_ms": round(float(np.percentile(np.abs(offsets), 95)) * 1000, 1),
        "drift_ms_per_min": round(drift, 2),
    }


def main() -> None:
    try:
        options = key_value_options(sys.argv[1:], DEFAULTS)
        seconds = checked("seconds", options["seconds"], int, minimum=10)
        for key in ("avatar_bundle", "turn_bundle"):
            if not (Path(options[key]) / "manifest.json").is_file():
                raise UserInputError(f"no bundle at {options[key]}", f"run `make demo`, or pass {key}=DIR")
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        wav = microphone(out / "microphone.wav", seconds)
        server = LiveProcess(
            [f"avatar_bundle={options['avatar_bundle']}", f"turn_bundle={options['turn_bundle']}", f"out={out}",
             "live.sync_probe=true", *str(options["overrides"]).split()]
        )  # fmt: skip
        try:
            print(f"recording the page for {seconds} s ({server.address}) ...", flush=True)
            recording = record_page(server.address, wav, seconds)
        finally:
            server.stop()
    except UserInputError as error:
        exit_with(error)
    with atomic_path(out / "page.webm") as tmp:
        tmp.write_bytes(recording)
    video, audio = marks(recording)
    times, offsets = pair(video, audio)
    result = {**sync_figures(times, offsets), "video_marks": len(video), "audio_marks": len(audio), "seconds": seconds}
    save_json(out / "sync.json", {**result, "times": times.tolist(), "offsets": offsets.tolist()})
    if result["marks"] < 3:
        print(f"too few marks paired ({result['marks']}; video {len(video)}, audio {len(audio)}): see {out}/page.webm")
        sys.exit(1)
    print(
        f"{result['marks']} marks over {seconds} s: |video - audio| p95 {result['p95_abs_offset_ms']:.0f} ms (bar"
        f" {P95_BAR_MS:.0f}), median offset {result['median_offset_ms']:+.0f} ms, drift"
        f" {result['drift_ms_per_min']:+.1f} ms per minute (bar {DRIFT_BAR_MS:.0f}); recording {out}/page.webm"
    )


if __name__ == "__main__":
    main()
