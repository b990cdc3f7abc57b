"""Run one scripted conversation through a fresh engine and write what happened.

Outputs in `out_dir`: `<name>.mp4` (the avatar's side: video, its audio, and the microphone as a second
audio track), `<name>.timeline.json` (every stage's events, with the engine's stats and the script's ground
truth), `<name>.timeline.png` (a lane per stage), `<name>.transcript.json` (the conversation as the model saw
it: interrupted replies keep only what was played) and `<name>.turns.json` (per user turn latencies).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from avatarlab.atomic import atomic_path
from avatarlab.runtime.timeline import MonotonicClock
from avatarlab.serve.build import Stages, new_engine
from avatarlab.simulate.analysis import analyse
from avatarlab.simulate.plot import plot_timeline
from avatarlab.simulate.script import Script
from avatarlab.simulate.session import Recorder, SimulatedUser

log = logging.getLogger(__name__)

SETTLE_S = 0.5  # poll period while waiting for the conversation to finish


@dataclass(frozen=True)
class SimulationResult:
    video: Path
    timeline: Path
    plot: Path
    transcript: Path
    turns: Path
    summary: dict[str, Any]


def _idle(engine: Any, user: SimulatedUser) -> bool:
    """Nothing playing or queued, and the listener has heard the user's last turn out with no turn open."""
    player, listener = engine.player, engine.listener
    heard_all = bool(user.turn_times) and listener.time >= user.turn_times[-1][1] + 0.3  # a loaded machine lags
    return (
        heard_all
        and not listener.vad.speaking
        and listener.turn is None
        and player.playing() is None
        and (player.queued is None)
    )


def run_simulation(
    stages: Stages,
    cfg: DictConfig,
    script: Script,
    out_dir: str | Path,
    early_replies: bool | None = None,
    seed: int = 0,
    name: str | None = None,
) -> SimulationResult:
    """Play `script` in real time through an engine on `stages` (configured by `cfg`); write the outputs."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or script.name
    max_s = sum(t.duration + t.wait_s for t in script.turns) + 25.0 * len(script.turns) + 30.0
    clock = MonotonicClock()
    with tempfile.TemporaryDirectory(prefix=".simulate-", dir=out_dir) as scratch:
        recorder = Recorder(
            stages.avatar.spec.size, int(round(stages.avatar.spec.fps)), Path(scratch) / "video.mp4", max_s
        )
        engine = new_engine(stages, cfg, recorder, clock, early_replies=early_replies)
        recorder.on_audio = engine.record_output
        user = SimulatedUser(script, engine.hear, recorder, clock, engine.timeline, max_s, seed)
        clock.origin = time.monotonic()  # the session starts now: the output's tick 0 and the microphone's 0
        engine.start()
        user.start()
        quiet_since: float | None = None
        try:
            while clock.now() < max_s - 1.0:
                time.sleep(SETTLE_S)
                if not user.done.is_set() or not _idle(engine, user):
                    quiet_since = None
                    continue
                quiet_since = quiet_since if quiet_since is not None else clock.now()
                if clock.now() - quiet_since >= script.end_s:
                    break
            else:
                engine.timeline.stamp("session", "timeout", max_s=max_s)
        finally:
            user.close()
            engine.close()
        stats = engine.stats()
        video = recorder.finish(out_dir / f"{name}.mp4", user.mic)
    meta = {"script": str(script.path), "name": name, "early_replies": engine.options.early_replies, **stats}
    meta["turn_kinds"] = [t.kind for t in script.turns]
    timeline_path = engine.timeline.save(out_dir / f"{name}.timeline.json", meta)
    plot = plot_timeline(engine.timeline, out_dir / f"{name}.timeline.png", f"{name}: a scripted conversation")
    transcript = out_dir / f"{name}.transcript.json"
    with atomic_path(transcript) as tmp:
        tmp.write_text(json.dumps(engine.conversation.transcript(), indent=1, default=str) + "\n")
    summary = analyse(engine.timeline, [t.kind for t in script.turns])
    summary["stats"] = stats
    turns = out_dir / f"{name}.turns.json"
    with atomic_path(turns) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return SimulationResult(video, timeline_path, plot, transcript, turns, summary)
