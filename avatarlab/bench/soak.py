"""Many short conversations against one live server: `python -m avatarlab.bench.soak [sessions=200]`.

Starts `python serve.py` (mode=live) with the exported bundles, then opens `sessions` conversations one after
another: each says hello, sends half a second of microphone audio, reads a few frames and ends. After each it
samples the server process: resident memory, threads, open files, and the asyncio tasks its /stats reports.
The bars: after `warmup` sessions, memory stays within 20 MB of that baseline with no upward trend, and the
counts return to the baseline's. Prints the figures and writes them (with every sample) to OUT/soak.json.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from avatarlab.atomic import save_json
from avatarlab.cli import checked, key_value_options
from avatarlab.errors import UserInputError, exit_with
from avatarlab.serve.launch import LiveProcess

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = {
    "sessions": 200,
    "warmup": 10,
    "avatar_bundle": str(ROOT / "bundles" / "avatar_quickstart"),
    "turn_bundle": str(ROOT / "bundles" / "turn_quickstart"),
    "out": str(ROOT / "outputs" / "bench_soak"),
    "overrides": "",
}
HELLO = json.dumps({"type": "hello", "sample_rate": 16000, "channels": 1})
MEMORY_BAR_MB = 20.0


def process_counts(pid: int) -> dict[str, float]:
    """Resident memory (MB), threads and open files of a process (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return {
        "rss_mb": rss_kb / 1024,
        "threads": len(list(Path(f"/proc/{pid}/task").iterdir())),
        "open_files": len(list(Path(f"/proc/{pid}/fd").iterdir())),
    }


async def one_session(session: aiohttp.ClientSession, url: str, frames: int = 5) -> int:
    """A short conversation: hello, 0.5 s of audio, `frames` frames read, end. Returns the frames read."""
    for _ in range(100):  # the previous session may still be closing
        ws = await session.ws_connect(url)
        await ws.send_str(HELLO)
        reply = await ws.receive(timeout=30)
        if reply.type == aiohttp.WSMsgType.TEXT and json.loads(reply.data)["type"] == "ready":
            break
        await ws.close()
        await asyncio.sleep(0.1)
    else:
        raise RuntimeError("the server stayed busy")
    rng = np.random.default_rng(0)
    for _ in range(25):
        await ws.send_bytes((rng.normal(0, 30, 320)).astype("<i2").tobytes())
    read = 0
    while read < frames:
        message = await ws.receive(timeout=30)
        if message.type == aiohttp.WSMsgType.BINARY:
            read += 1
        elif message.type != aiohttp.WSMsgType.TEXT:
            break
    await ws.send_str(json.dumps({"type": "end"}))
    async for _ in ws:
        pass
    return read


async def soak(server: LiveProcess, sessions: int) -> list[dict[str, float]]:
    samples = []
    async with aiohttp.ClientSession() as session:
        for i in range(sessions):
            frames = await one_session(session, server.ws_url)
            async with session.get(server.address + "/stats") as response:
                stats = await response.json()
            await asyncio.sleep(0.3)  # the session's threads finish closing
            samples.append({"session": i + 1, "frames": frames, "tasks": stats["tasks"], "engines": stats["engines"],
                            **process_counts(server.pid)})  # fmt: skip
            if (i + 1) % 10 == 0:
                s = samples[-1]
                print(f"  {i + 1}/{sessions}: {s['rss_mb']:.1f} MB, {s['threads']} threads, "
                      f"{s['open_files']} files, {s['tasks']} tasks", flush=True)  # fmt: skip
    return samples


def figures(samples: list[dict[str, float]], warmup: int) -> dict[str, Any]:
    """Baseline after the warm-up, the largest memory deviation from it, the trend and the final counts."""
    base = samples[warmup - 1]
    later = samples[warmup:]
    rss = np.array([s["rss_mb"] for s in later])
    x = np.arange(len(rss))
    slope = float(np.polyfit(x, rss, 1)[0]) * 100 if len(rss) > 2 else 0.0  # MB per 100 sessions
    end = samples[-1]
    out = {
        "sessions": len(samples),
        "warmup": warmup,
        "baseline": base,
        "final": end,
        "max_rss_above_baseline_mb": round(float(rss.max() - base["rss_mb"]) if len(rss) else 0.0, 2),
        "rss_trend_mb_per_100_sessions": round(slope, 2),
    }
    out["memory_ok"] = out["max_rss_above_baseline_mb"] <= MEMORY_BAR_MB and slope <= MEMORY_BAR_MB / 2
    out["counts_ok"] = all(end[k] <= base[k] for k in ("threads", "open_files", "tasks"))
    return out


def main() -> None:
    try:
        options = key_value_options(sys.argv[1:], DEFAULTS)
        sessions = checked("sessions", options["sessions"], int, minimum=2)
        warmup = checked("warmup", options["warmup"], int, minimum=1)
        if warmup >= sessions:
            raise UserInputError(f"warmup={warmup} leaves no sessions to measure", "pass warmup < sessions")
        for key in ("avatar_bundle", "turn_bundle"):
            if not (Path(options[key]) / "manifest.json").is_file():
                raise UserInputError(f"no bundle at {options[key]}", f"run `make demo`, or pass {key}=DIR")
    except UserInputError as error:
        exit_with(error)
    out = Path(options["out"])
    server = LiveProcess(
        [f"avatar_bundle={options['avatar_bundle']}", f"turn_bundle={options['turn_bundle']}", f"out={out}",
         *str(options["overrides"]).split()]
    )  # fmt: skip
    started = time.perf_counter()
    try:
        print(f"{sessions} short sessions against {server.address} (pid {server.pid}) ...", flush=True)
        samples = asyncio.run(soak(server, sessions))
        alive = server.alive()
    finally:
        server.stop()
    result = figures(samples, warmup)
    result["server_alive"] = alive
    result["seconds"] = round(time.perf_counter() - started, 1)
    save_json(out / "soak.json", {**result, "samples": samples})
    b, e = result["baseline"], result["final"]
    print(
        f"\nafter {warmup} warm-up sessions: {b['rss_mb']:.1f} MB, {b['threads']} threads,"
        f" {b['open_files']} open files,"
        f" {b['tasks']} asyncio tasks\nafter {sessions}: {e['rss_mb']:.1f} MB, {e['threads']} threads,"
        f" {e['open_files']} open files, {e['tasks']} asyncio tasks\nmemory: at most"
        f" {result['max_rss_above_baseline_mb']:.1f} MB above the baseline (bar {MEMORY_BAR_MB:.0f}), trend"
        f" {result['rss_trend_mb_per_100_sessions']:+.1f} MB per 100 sessions; counts back to the baseline:"
        f" {'yes' if result['counts_ok'] else 'no'}; server alive: {'yes' if alive else 'no'}"
        f"\nfigures in {out}/soak.json"
    )


if __name__ == "__main__":
    main()
