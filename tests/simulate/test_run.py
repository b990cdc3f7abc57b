"""Scripted conversations end to end, in real time, on the real stages (tiny bundles, the embedded language model,
espeak-ng, silero-vad, Whisper tiny.en): answers, a barge-in that truncates the history, and faults."""

from __future__ import annotations

import dataclasses
import http.server
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig

from avatarlab.runtime.timeline import Timeline
from avatarlab.runtime.tts import EspeakTTS, Utterance
from avatarlab.serve.build import Stages, load_stages
from avatarlab.simulate.run import run_simulation
from avatarlab.simulate.script import load_script

pytestmark = pytest.mark.slow

ENGINE_THREADS = ("listen", "player", "renderer", "responder", "simulated-user")


def serve_config(avatar_bundle: Path, turn_bundle: Path, out: Path, overrides: list[str] = ()) -> DictConfig:
    from hydra import compose, initialize_config_dir

    from avatarlab.cli import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(
            config_name="serve",
            overrides=[
                f"avatar_bundle={avatar_bundle}",
                f"turn_bundle={turn_bundle}",
                f"out={out}",
                "engine.idle_frames=10",
                *(overrides or ["llm.max_new_tokens=24"]),
            ],
        )


@pytest.fixture(scope="module")
def user_voice() -> EspeakTTS:
    """The simulated user: a British male espeak voice (the avatar speaks en-us+f3)."""
    return EspeakTTS("en-gb-x-rp+m3", 160, 45, 50)


@pytest.fixture(scope="module")
def stages(avatar_bundle: Path, tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Stages:
    return load_stages(serve_config(avatar_bundle, tiny_bundle, tmp_path_factory.mktemp("serve")))


def write_script(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def probe_streams(video: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(video)],
        capture_output=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_a_conversation_is_answered_and_a_barge_in_cuts_the_reply(
    stages: Stages, avatar_bundle: Path, tiny_bundle: Path, user_voice: EspeakTTS, tmp_path: Path
) -> None:
    cfg = serve_config(avatar_bundle, tiny_bundle, tmp_path)
    script = load_script(
        write_script(
            tmp_path / "talk.yaml",
            "name: talk\necho: {gain: 0.2, delay_s: 0.12}\nend_s: 1.0\nturns:\n"
            '  - say: "Please tell me a long story about a brave little dragon."\n'
            '  - say: "Stop, stop. What is your name?"\n    kind: barge_in\n    after: reply_start\n    wait_s: 1.2\n',
        ),
        user_voice,
        tmp_path / "voices",
    )
    result = run_simulation(stages, cfg, script, tmp_path / "out")

    assert not [t.name for t in threading.enumerate() if t.name in ENGINE_THREADS]  # every thread ended
    stats = result.summary["stats"]
    assert stats["errors"] == [] and stats["mic_dropped_samples"] == 0
    rows = result.summary["rows"]
    assert rows[0]["answered"] and rows[0]["first_frame"] is not None
    barge = rows[1]
    assert barge["detect_s"] is not None and barge["stop_s"] is not None
    # silent at the next ticks after the decision at the latest (before it when the reply was held while judged)
    assert barge["detect_to_stop_s"] <= 0.5 and barge["stop_s"] > 0

    transcript = json.loads(result.transcript.read_text())
    # the reply playing when the barge-in began (a reply committed within it, e.g. after "Stop, stop.", may be cut
    # before its first word, and then keeps nothing)
    cut = [
        t
        for t in transcript
        if t["role"] == "assistant" and t["status"] == "interrupted" and t["started"] < barge["speech_start"]
    ]
    assert cut, transcript
    reply = cut[-1]
    assert reply["cut"] and (reply["unheard"] or reply["untold"]) and reply["content"].endswith("..."), reply
    # the history keeps only what had played when it stopped: the words more than half played by then
    assert all((start + end) / 2 < reply["ended"] for _, start, end in reply["heard"]), reply
    assert all((start + end) / 2 >= reply["ended"] for _, start, end in reply["unheard"]), reply
    assert [t["role"] for t in transcript].count("user") >= 2

    timeline, meta = Timeline.load(result.timeline)
    assert meta["name"] == "talk" and timeline.events("output", "end")
    assert result.plot.stat().st_size > 10_000
    streams = probe_streams(result.video)
    kinds = [s["codec_type"] for s in streams["streams"]]
    assert kinds.count("video") == 1 and kinds.count("audio") == 2
    assert "AI-generated" in streams["format"]["tags"]["comment"]
    duration = float(streams["format"]["duration"])
    assert duration == pytest.approx(timeline.events()[-1].t, abs=2.0)


class FailingAfterFirst(EspeakTTS):
    """espeak-ng that fails from its second phrase on (a synthesis failure mid-reply)."""

    def __init__(self) -> None:
        self.calls = 0
        super().__init__("en-us+f3", 170, 50, 50)

    def synthesize(self, text: str) -> Utterance:
        self.calls += 1
        if self.calls > 2:  # the first call is the constructor's check
            raise RuntimeError("the speech engine stopped")
        return super().synthesize(text)


@pytest.fixture
def garbage_endpoint() -> Iterator[str]:
    """A real HTTP server on loopback that answers chat requests with something that is not an OpenAI stream."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>not a model</html>")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("fault", ["endpoint_down", "endpoint_garbage", "speech_fails"])
def test_a_failing_stage_is_reported_and_the_loop_goes_back_to_listening(
    fault: str,
    stages: Stages,
    avatar_bundle: Path,
    tiny_bundle: Path,
    user_voice: EspeakTTS,
    garbage_endpoint: str,
    tmp_path: Path,
) -> None:
    from hydra.utils import instantiate

    overrides = []
    if fault != "speech_fails":
        url = f"http://127.0.0.1:{closed_port()}/v1" if fault == "endpoint_down" else garbage_endpoint
        overrides = ["serve/llm@llm=openai", f"llm.base_url={url}", "llm.model=any"]
    cfg = serve_config(avatar_bundle, tiny_bundle, tmp_path, overrides)
    llm = instantiate(cfg.llm) if fault != "speech_fails" else stages.llm
    tts = FailingAfterFirst() if fault == "speech_fails" else stages.tts
    faulty = dataclasses.replace(stages, llm=llm, tts=tts)
    script = load_script(
        write_script(
            tmp_path / "faults.yaml",
            "name: faults\nend_s: 1.0\nturns:\n"
            '  - say: "What is the weather like today?"\n'
            '  - say: "Are you still there?"\n    wait_s: 1.5\n',
        ),
        user_voice,
        tmp_path / "voices",
    )
    result = run_simulation(faulty, cfg, script, tmp_path / "out", name=fault)

    assert not [t.name for t in threading.enumerate() if t.name in ENGINE_THREADS]
    errors = result.summary["stats"]["errors"]
    assert errors, "the failure was not reported"
    expected = "LLMError" if fault != "speech_fails" else "the speech engine stopped"
    assert any(expected in e for e in errors), errors
    rows = result.summary["rows"]
    assert all(r["played"] for r in rows)
    timeline, _ = Timeline.load(result.timeline)
    commits = timeline.events("turn", "commit")
    assert len(commits) >= 2  # after the failure the loop listened again and took the next turn
    assert not timeline.events("session", "timeout")


def test_the_microphone_takes_mono_float32_only(stages: Stages, avatar_bundle: Path, tiny_bundle: Path) -> None:
    from avatarlab.runtime.timeline import ManualClock
    from avatarlab.serve.build import new_engine

    class Discard:
        def write(self, t: float, frame: np.ndarray, audio: np.ndarray, reply: int | None) -> None:
            pass

    cfg = serve_config(avatar_bundle, tiny_bundle, Path("."))
    engine = new_engine(stages, cfg, Discard(), ManualClock(0.0))
    with pytest.raises(ValueError, match="mono"):
        engine.hear(np.zeros((320, 2), np.float32))
    with pytest.raises(ValueError, match="float32"):
        engine.hear(np.zeros(320, np.int16))


def test_a_reply_that_fails_before_it_is_queued_is_not_left_queued(
    stages: Stages, avatar_bundle: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    """The model can fail (a refused connection: under a millisecond) before the engine has queued the reply's
    playback; the reply must not then wait in the queue for frames that will never come."""
    from hydra.utils import instantiate

    from avatarlab.runtime.timeline import ManualClock
    from avatarlab.serve.build import new_engine

    class Discard:
        def write(self, t: float, frame: np.ndarray, audio: np.ndarray, reply: int | None) -> None:
            pass

    down = [f"llm.base_url=http://127.0.0.1:{closed_port()}/v1", "serve/llm@llm=openai", "llm.model=any"]
    cfg = serve_config(avatar_bundle, tiny_bundle, tmp_path, down)
    engine = new_engine(dataclasses.replace(stages, llm=instantiate(cfg.llm)), cfg, Discard(), ManualClock(0.0))
    engine.start()
    try:
        engine.conversation.add_user("Hello?", 0.0)
        reply = engine.conversation.commit(0.0, text="")
        job = engine.responder.reply(reply, engine.conversation.messages(engine.persona))
        assert job.done.wait(10.0) and job.error is not None  # failed, and dropped nothing: nothing was queued
        engine._play(job)  # the engine's thread gets there only now
        assert engine.player.queued is None
        assert any("cannot connect" in e for e in engine.errors)
    finally:
        engine.close()
