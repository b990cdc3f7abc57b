"""The live loop's latency benchmark: `python -m avatarlab.bench.loop` (configs/bench_loop.yaml).

Plays the sample conversations (configs/serve/scripts/) in real time through fresh engines on the embedded
components, with early replies on and then off, and the conversation of real recordings; prints per stage the
median and p90 of the time from the end of the user's speech (last word recognised, commit, first token, first
synthesized audio, first avatar frame with audio) and from the commit to that frame (the reply's own share), the
share of turns answered by a kept draft, the false cut-ins, and for barge-ins the time from the interrupting speech
to the stop decision and to the last avatar sample sent (a reply held while the speech is judged sends its last
sample when it is held), how long backchannels held the reply and how often the avatar's own echo held it.
Latencies count only turns without a cut-in. It writes the recognizer's word delays (`word_delays.json`) and
replays the turn corpus with their median, beside the oracle (words known when they end). Outputs in `out`:
results.json, table.md, each conversation's video, timeline and plot.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from avatarlab.atomic import atomic_path
from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.errors import UserInputError

log = logging.getLogger(__name__)
SCRIPTS = Path(config_dir()) / "serve" / "scripts"
STAGES = ("last_word", "commit", "first_token", "first_audio", "first_frame")


def _fmt(stats: dict[str, Any]) -> str:
    if not stats or stats.get("n", 0) == 0:
        return "-"
    return f"{stats['median'] * 1000:.0f} / {stats['p90'] * 1000:.0f} ms (n={stats['n']})"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def table(rows: dict[str, dict[str, Any]]) -> str:
    """A markdown table, one column per run, median / p90."""
    names = list(rows)
    lines = ["| from the end of the user's speech | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for key in STAGES:
        lines.append(f"| {key.replace('_', ' ')} | " + " | ".join(_fmt(rows[n][key]) for n in names) + " |")
    lines.append(
        "| first frame, kept draft | " + " | ".join(_fmt(rows[n]["first_frame_kept_draft"]) for n in names) + " |"
    )
    lines.append(
        "| first frame, new reply | " + " | ".join(_fmt(rows[n]["first_frame_new_reply"]) for n in names) + " |"
    )
    for key, label in (("after_commit", "commit -> first frame"),
                       ("after_commit_kept_draft", "commit -> first frame, kept draft")):  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(_fmt(rows[n][key]) for n in names) + " |")
    lines.append("| answered by a kept draft | " + " | ".join(_pct(rows[n]["kept_draft_share"]) for n in names) + " |")
    rebased = " | ".join(_pct(rows[n].get("rebased_share")) for n in names)
    lines.append(f"| ... of which the policy dropped, its words the whole turn's reply | {rebased} |")
    cut = [
        f"{_pct(rows[n]['cut_in_rate'])} ({rows[n]['cut_ins']}/{rows[n]['turns'] - rows[n]['unanswered']})"
        for n in names
    ]
    lines.append("| false cut-ins | " + " | ".join(cut) + " |")
    lines.append("| unanswered turns | " + " | ".join(str(rows[n]["unanswered"]) for n in names) + " |")
    for key, label in (("barge_in_detect", "barge-in: speech start -> stop decision"),
                       ("barge_in_stop", "barge-in: speech start -> last sample sent"),
                       ("barge_in_detect_to_stop", "barge-in: decision -> last sample sent")):  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(_fmt(rows[n][key]) for n in names) + " |")
    back = [f"{rows[n]['backchannels_ignored']}/{rows[n]['backchannels']}" for n in names]
    lines.append("| backchannels let the reply go on | " + " | ".join(back) + " |")
    held = [_fmt(rows[n]["backchannel_held"]) for n in names]
    lines.append("| reply held over a backchannel | " + " | ".join(held) + " |")
    stray = [str(rows[n]["stray_holds"]) for n in names]
    lines.append("| reply held without user speech | " + " | ".join(stray) + " |")
    return "\n".join(lines) + "\n"


def run(cfg: DictConfig) -> dict[str, Any]:
    from avatarlab.serve.build import load_stages
    from avatarlab.simulate.analysis import aggregate
    from avatarlab.simulate.run import run_simulation
    from avatarlab.simulate.script import load_script

    out = Path(str(cfg.out))
    names = [str(n) for n in cfg.scripts]
    missing = [n for n in names if not (SCRIPTS / f"{n}.yaml").is_file()]
    if missing:
        raise UserInputError(
            f"no sample scripts {missing} in {SCRIPTS}",
            f"use names from {sorted(p.stem for p in SCRIPTS.glob('*.yaml'))}",
        )
    started = time.perf_counter()
    stages = load_stages(cfg)
    print(f"ready after {time.perf_counter() - started:.1f} s: {stages.load_s}", flush=True)
    voice = instantiate(cfg.user_voice)
    runs: dict[str, list[dict[str, Any]]] = {}
    delays: list[float] = []
    plan = [("early replies on", True, n) for n in names]
    if cfg.early_replies_off:
        plan += [("early replies off", False, n) for n in names]
    if cfg.real:
        plan.append(("real recordings", True, str(cfg.real)))
    for label, early, name in plan:
        try:
            script = load_script(SCRIPTS / f"{name}.yaml", voice, out / "voices")
        except UserInputError as e:
            print(f"skipping {name}: {e}", flush=True)
            continue
        tag = f"{name}_{'on' if early else 'off'}"
        print(f"[{label}] {name}: {len(script.turns)} turns ...", flush=True)
        result = run_simulation(stages, cfg, script, out / "conversations", early_replies=early, name=tag)
        runs.setdefault(label, []).extend(result.summary["rows"])
        if early:
            delays += [float(e.data["delay"]) for e in _words(result.timeline)]
    rows = {label: aggregate(turns) for label, turns in runs.items()}
    word_delays = {
        "n": len(delays),
        "median": float(np.median(delays)) if delays else None,
        "p90": float(np.percentile(delays, 90)) if delays else None,
        "delays": delays,
    }
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "word_delays.json") as tmp:
        tmp.write_text(json.dumps(word_delays) + "\n")
    results = {"runs": rows, "word_delays": {k: v for k, v in word_delays.items() if k != "delays"}}
    results["turn_replay"] = _turn_replay(cfg, word_delays["median"], out)
    text = table(rows)
    text += f"\nword delays (a word is known this long after it ends): median {word_delays['median']:.3f} s, " \
            f"p90 {word_delays['p90']:.3f} s over {word_delays['n']} words\n" if delays else ""  # fmt: skip
    for row in results["turn_replay"]:
        text += (f"turn corpus replay, words known {row['word_delay_s']:.2f} s after they end: false cut-in "
                 f"{_pct(row['false_cut_in'])}, median commit {row['median_commit_ms']} ms, "
                 f"reuse {_pct(row['reuse'])}\n")  # fmt: skip
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n")
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text(text)
    print(text)
    return results


def _words(timeline_path: Path) -> list[Any]:
    from avatarlab.runtime.timeline import Timeline

    timeline, _ = Timeline.load(timeline_path)
    return [e for e in timeline.events("asr", "word") if not e.data.get("echo") and e.data.get("delay") is not None]


def _turn_replay(cfg: DictConfig, delay: float | None, out: Path) -> list[dict[str, Any]]:
    """The turn corpus replayed with words known at once (the oracle) and with the live recognizer's median delay."""
    from avatarlab.config_args import config_values
    from avatarlab.turn.evaluate import evaluate

    corpus = Path(str(cfg.turn_corpus))
    if not corpus.is_file() or delay is None:
        print(f"turn corpus replay skipped: {corpus} not found (make demo generates it)", flush=True)
        return []
    options = config_values("turn_evaluate.yaml", "silence_timeout_s", "tail_s", "llm_first_words_s")
    delays = [0.0, round(delay, 3)]
    result = evaluate(cfg.turn_bundle, corpus, out / "turn_replay", policy={}, word_delays=delays,
                      limit=int(cfg.turn_limit), streaming=False, bootstrap=200, **options)  # fmt: skip
    rows = []
    for word_delay, entry in zip(delays, result["by_delay"]):
        row = entry["rows"][0]
        rows.append({"word_delay_s": word_delay, "false_cut_in": row.get("false_cut_in"),
                     "median_commit_ms": round(row.get("latency_median_ms", float("nan"))),
                     "reuse": row.get("reuse_non_pivot")})  # fmt: skip
    return rows


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="bench_loop")
def main(cfg: DictConfig) -> None:
    def action() -> None:
        torch.set_num_threads(checked("threads", cfg.threads, int, minimum=1))
        run(cfg)

    run_cli(action)


if __name__ == "__main__":
    main()
