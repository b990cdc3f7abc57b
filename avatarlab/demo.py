"""The quick start (`make demo`): build the built-in subject and run every job on it.

Each step is the command a user would type. A step whose output already exists is skipped, and the
training steps resume from their last checkpoint, so a rerun picks up where it stopped.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from avatarlab.steps import Step, relative, run

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "datasets"
LOGS = ROOT / "logs"
BUNDLES = ROOT / "bundles"
OUTPUTS = ROOT / "outputs"
SHARED = ROOT.parent / "shared" / "data"
REAL_VOICE = SHARED / "speech_radio31_8s.wav"
REAL_CONVERSATIONS = SHARED / "ami" / "train.rttm"  # with the shared recordings, the calibration hears real speech
AVATAR_RUN = LOGS / "avatar_quickstart"
AVATAR_VIDEO = OUTPUTS / "avatar_unseen_sentence.mp4"
TURN_REPORT = OUTPUTS / "turn_report"
CONVERSATION_VIDEO = OUTPUTS / "conversation" / "demo.mp4"
UNSEEN_SENTENCE = "Hello! I am the avatar you just trained, and I have never heard this sentence before today."


def avatar_steps(py: str) -> list[Step]:
    source = DATA / "astronaut_source" / "video.mp4"
    run_dir, bundle = AVATAR_RUN, BUNDLES / "avatar_quickstart"
    sentence = OUTPUTS / "unseen_sentence.wav"
    steps = [
        Step("generate the built-in subject (60 s talking astronaut)", [py, "-m", "avatarlab.data.synthetic"], source),
        Step(
            "prepare it at 128 px",
            [py, "-m", "avatarlab.data.prepare", f"input={source}", "name=astronaut", "size=128"],
            DATA / "astronaut" / "manifest.json",
        ),
        Step(
            "train the quickstart avatar (field, audio2kp, joint fine-tune)",
            [py, "train.py", "experiment=avatar_quickstart", f"hydra.run.dir={run_dir}", "ckpt_path=last"],
            run_dir / "checkpoints" / "final.ckpt",
        ),
        Step(
            "evaluate it on the held-out frames",
            [py, "-m", "avatarlab.evaluate", f"run={run_dir}"],
            run_dir / "eval" / "side_by_side.mp4",
        ),
        Step(
            "export its runtime bundle",
            [py, "-m", "avatarlab.export", f"run={run_dir}", f"out={bundle}"],
            bundle / "manifest.json",
        ),
        Step(
            "synthesize a sentence it never heard",
            [py, "-m", "avatarlab.data.speech", f"text='{UNSEEN_SENTENCE}'", f"out={sentence}"],
            sentence,
        ),
        Step(
            "render the avatar speaking it",
            [py, "-m", "avatarlab.render", f"bundle={bundle}", f"audio={sentence}", f"out={AVATAR_VIDEO}"],
            AVATAR_VIDEO,
        ),
    ]
    if REAL_VOICE.is_file():
        steps.append(
            Step(
                "render it speaking with a real voice",
                [
                    py,
                    "-m",
                    "avatarlab.render",
                    f"bundle={bundle}",
                    f"audio={REAL_VOICE}",
                    f"out={OUTPUTS / 'avatar_real_voice.mp4'}",
                ],
                OUTPUTS / "avatar_real_voice.mp4",
            )
        )
    return steps


def turn_steps(py: str) -> list[Step]:
    corpus = DATA / "turn_corpus"
    run_dir = LOGS / "turn_quickstart" / "demo"
    neural, bundle, report = BUNDLES / "turn_quickstart_neural", BUNDLES / "turn_quickstart", TURN_REPORT
    real = DATA / "turn_real" / "conversations.jsonl"
    steps = [
        Step(
            "generate the turn corpus (synthesized speech, split by template family)",
            [py, "-m", "avatarlab.turn.corpus"],
            corpus / "test.jsonl",
        ),
        Step(
            "train the turn predictor",
            [py, "train.py", "experiment=turn_quickstart", f"hydra.run.dir={run_dir}", "ckpt_path=last"],
            run_dir / "checkpoints" / "final.ckpt",
        ),
        Step(
            "export its runtime bundle",
            [py, "-m", "avatarlab.export", f"run={run_dir}", f"out={neural}"],
            neural / "manifest.json",
        ),
    ]
    if REAL_CONVERSATIONS.is_file():
        steps.append(
            Step(
                "cut the shared real conversations into turns (speaker timings, the bundled recognizer)",
                [py, "-m", "avatarlab.turn.real"],
                real,
            )
        )
    calibrate = [py, "-m", "avatarlab.turn.calibrate", f"bundle={neural}", f"out={bundle}"]
    title = "calibrate its end-of-turn score on generated turns"
    if REAL_CONVERSATIONS.is_file():
        calibrate.append(f"real={real}")
        title += " and real conversations"
    return steps + [
        Step(title, calibrate, bundle / "manifest.json"),
        Step(
            "replay the held-out families through the response policy",
            [
                py,
                "-m",
                "avatarlab.turn.evaluate",
                f"bundle={bundle}",
                f"corpus={corpus / 'test.jsonl'}",
                f"out={report}",
            ],
            report / "latency_hist.png",
        ),
    ]


def conversation_steps(py: str) -> list[Step]:
    out = OUTPUTS / "conversation"
    script = ROOT / "configs" / "serve" / "scripts" / "demo.yaml"
    return [
        Step(
            "talk with the avatar: a scripted conversation in real time (early replies, a backchannel, a barge-in)",
            [py, "serve.py", "mode=simulate", f"script={script}", f"out={out}"],
            CONVERSATION_VIDEO,
        )
    ]


def steps() -> list[Step]:
    py = sys.executable
    return avatar_steps(py) + turn_steps(py) + conversation_steps(py)


def main() -> None:
    plan = steps()
    started = time.perf_counter()
    for i, step in enumerate(plan, 1):
        seconds = run(step, i, len(plan), ROOT, "make demo")
        if seconds is not None:
            print(f"    done in {seconds:.0f} s -> {relative(step.output, ROOT)}", flush=True)
    print(f"\ndemo finished in {(time.perf_counter() - started) / 60:.1f} min. Outputs:")
    for step in plan:
        print(f"  {relative(step.output, ROOT)}")
    highlights = [
        CONVERSATION_VIDEO,
        CONVERSATION_VIDEO.with_suffix(".timeline.png"),
        AVATAR_VIDEO,
        AVATAR_RUN / "eval" / "side_by_side.mp4",
        AVATAR_RUN / "eval" / "metrics.json",
        TURN_REPORT / "table.md",
        TURN_REPORT / "latency_hist.png",
    ]
    print("Watch and read first:\n" + "\n".join(f"  {relative(p, ROOT)}" for p in highlights))


if __name__ == "__main__":
    main()
