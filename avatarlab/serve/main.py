"""`python serve.py [mode=live|simulate] [overrides]`: the live loop on the exported bundles.

mode=live (the default) serves the browser page on 127.0.0.1 and talks with whoever opens it (see live.py).
mode=simulate plays a scripted conversation (configs/serve/scripts/) in real time, headless, and writes the
avatar's side as an mp4 with the timeline (JSON and plot), the transcript and per-turn latencies.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.errors import UserInputError

log = logging.getLogger(__name__)
MODES = ("live", "simulate")
STARTED = time.perf_counter()  # the process's imports done before this count too: see `ready` below


def simulate(cfg: DictConfig) -> None:
    from avatarlab.serve.build import load_stages
    from avatarlab.simulate.run import run_simulation
    from avatarlab.simulate.script import load_script

    if cfg.script is None:
        raise UserInputError(
            "mode=simulate needs a script", "pass script=configs/serve/scripts/demo.yaml (or your own)"
        )
    out = Path(str(cfg.out))
    script = load_script(cfg.script, instantiate(cfg.user_voice), out / "voices")  # a bad script fails first
    stages = load_stages(cfg)
    ready = time.perf_counter() - STARTED + _since_exec()
    print(f"ready to listen {ready:.1f} s after the process started (loads: {stages.load_s})", flush=True)
    print(f"playing {script.path} ({len(script.turns)} user turns) in real time ...", flush=True)
    result = run_simulation(stages, cfg, script, out)
    s = result.summary
    ff = s["first_frame"]
    print(json.dumps({k: s[k] for k in ("turns", "cut_ins", "kept_draft_share", "first_frame", "barge_in_stop")}))
    cpu = ", ".join(f"{stage} {v['cpu_s']:.1f} s" for stage, v in s["stats"]["cpu"].items())
    print(f"CPU time on each stage's own thread: {cpu}")
    print(
        f"conversation written: {result.video}\n  timeline: {result.timeline} and {result.plot}\n"
        f"  transcript: {result.transcript}\n  end of user speech -> first avatar frame: median "
        f"{ff['median'] if ff['median'] is None else round(ff['median'], 3)} s over {ff['n']} turns"
    )


def live(cfg: DictConfig) -> None:
    import os

    from avatarlab.config_args import constructor_args
    from avatarlab.serve.build import load_stages
    from avatarlab.serve.live import LiveOptions, access_token, serve_forever, tls_context
    from avatarlab.serve.transport import IMAGE_FORMATS

    options = LiveOptions(**constructor_args(cfg.live, LiveOptions, label="live"))
    checked("live.max_sessions", options.max_sessions, int, minimum=1)
    checked("live.port", options.port, int, minimum=0)
    checked("live.send_buffer_bytes", options.send_buffer_bytes, int, minimum=4096)
    if options.image_format not in (None, *IMAGE_FORMATS):
        raise UserInputError(
            f"live.image_format must be one of {', '.join(IMAGE_FORMATS)} (or null), not {options.image_format!r}",
            "set live.image_format=webp, live.image_format=jpeg, or leave it null to choose by the frame size",
        )
    if options.image_quality is not None and checked("live.image_quality", options.image_quality, int, minimum=1) > 100:
        raise UserInputError(f"live.image_quality={options.image_quality} is above 100", "pass 1-100, or null")
    tls = tls_context(options, Path(str(cfg.out)) / "tls")
    token = access_token(options, os.environ.get("AVATARLAB_TOKEN"))
    pool = [load_stages(cfg) for _ in range(options.max_sessions)]  # each conversation has its own stream state
    ready = time.perf_counter() - STARTED + _since_exec()
    print(f"ready {ready:.1f} s after the process started (loads: {pool[0].load_s})", flush=True)
    if token and not options.token:
        print(f"access token (give it to whoever may talk): {token}", flush=True)
    serve_forever(pool, cfg, options, token, tls)


def _since_exec() -> float:
    """Seconds from the process's start to this module's import (Linux: /proc; elsewhere 0)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = float(Path("/proc/uptime").read_text().split()[0])
        import os

        return max(0.0, boot - ticks / os.sysconf("SC_CLK_TCK") - (time.perf_counter() - STARTED))
    except (OSError, ValueError, IndexError):
        return 0.0


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="serve")
def main(cfg: DictConfig) -> None:
    def action() -> None:
        torch.set_num_threads(checked("threads", cfg.threads, int, minimum=1))
        if cfg.mode not in MODES:
            raise UserInputError(f"mode={cfg.mode!r} is not a mode", f"use mode={' or mode='.join(MODES)}")
        simulate(cfg) if cfg.mode == "simulate" else live(cfg)

    run_cli(action)
