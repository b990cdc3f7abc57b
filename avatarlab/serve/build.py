"""Build the live loop's parts from the serve config: the exported bundles and every stage's `_target_`.

`load_stages(cfg)` loads what is slow to load once (models, bundles); `new_engine(stages, ...)` makes an
Engine for one session from them (a session's own state: conversation, timeline, policy, listener).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from avatarlab.config_args import constructor_args, locate, plain
from avatarlab.errors import UserInputError
from avatarlab.runtime.asr import StreamingASR
from avatarlab.runtime.avatar import Avatar
from avatarlab.runtime.bundle import BundleError, read_bundle
from avatarlab.runtime.conversation import Conversation
from avatarlab.runtime.engine import Engine, EngineOptions
from avatarlab.runtime.interruptions import InterruptionClassifier
from avatarlab.runtime.llm import ChatLLM
from avatarlab.runtime.persona import Persona
from avatarlab.runtime.player import OutputSink
from avatarlab.runtime.response_policy import ResponsePolicy
from avatarlab.runtime.timeline import Clock, Timeline
from avatarlab.runtime.tts import PhraseSplitter, Synthesizer
from avatarlab.runtime.turn_predictor import TURN_BUNDLE_KIND, TurnPredictor
from avatarlab.runtime.vad import SileroVAD

log = logging.getLogger(__name__)

MAX_TIMELINE_EVENTS = 200_000


@dataclass
class Stages:
    """Everything a session needs that is slow to load, loaded once."""

    avatar: Avatar
    predictor: TurnPredictor
    policy_args: dict[str, Any]
    vad: SileroVAD
    asr: StreamingASR
    llm: ChatLLM
    tts: Synthesizer
    persona: Persona
    load_s: dict[str, float]


def _bundle(path: str, kind: str, what: str) -> Path:
    folder = Path(path)
    if not (folder / "manifest.json").is_file():
        raise UserInputError(
            f"no {what} bundle at {folder}",
            "run `make demo` (it exports bundles/avatar_quickstart and bundles/turn_quickstart), or pass "
            f"{'avatar_bundle' if kind == 'avatar' else 'turn_bundle'}=PATH to an exported bundle",
        )
    try:
        read_bundle(folder, kind=kind)
    except BundleError as e:
        raise UserInputError(str(e), getattr(e, "fix", "re-export the bundle")) from e
    return folder


def load_stages(cfg: DictConfig) -> Stages:
    """The bundles and the speech components of `cfg` (configs/serve.yaml), each load timed."""
    took: dict[str, float] = {}

    def timed(name: str, make: Any) -> Any:
        started = time.perf_counter()
        value = make()
        took[name] = round(time.perf_counter() - started, 2)
        log.info("loaded %s in %.1f s", name, took[name])
        return value

    avatar_dir = _bundle(str(cfg.avatar_bundle), "avatar", "avatar")
    turn_dir = _bundle(str(cfg.turn_bundle), TURN_BUNDLE_KIND, "turn predictor")
    persona = instantiate(cfg.persona)
    avatar = timed("avatar", lambda: Avatar.from_bundle(avatar_dir))
    predictor = timed("turn", lambda: TurnPredictor.from_bundle(turn_dir))
    stored = read_bundle(turn_dir, kind=TURN_BUNDLE_KIND).config.get("policy", {})
    chosen = {k: v for k, v in (plain(cfg.policy) or {}).items() if v is not None}
    policy_args = {k: v for k, v in {**stored, **chosen}.items() if k != "_target_"}
    constructor_args(policy_args, ResponsePolicy, label="policy")
    vad = timed("vad", lambda: instantiate(cfg.vad))
    asr = timed("asr", lambda: instantiate(cfg.asr))
    llm = timed("llm", lambda: instantiate(cfg.llm))
    if hasattr(llm, "warmup"):
        timed("llm_warmup", llm.warmup)
    engine_name = getattr(locate(str(cfg.tts._target_)), "engine", "")
    voice = persona.voice_for(engine_name)
    tts = timed("tts", lambda: instantiate(cfg.tts, **({"voice": voice} if voice else {})))
    predictor.update(0.0)  # first-call allocations
    return Stages(avatar, predictor, policy_args, vad, asr, llm, tts, persona, took)


def new_engine(
    stages: Stages,
    cfg: DictConfig,
    sink: OutputSink,
    clock: Clock,
    early_replies: bool | None = None,
    greet: bool | None = None,
) -> Engine:
    """A session's engine on the loaded stages (their stream state reset); `early_replies`/`greet` override
    the config's."""
    options = dict(constructor_args(cfg.engine, EngineOptions, label="engine"))
    if early_replies is not None:
        options["early_replies"] = early_replies
    if greet is not None:
        options["greet"] = greet
    stages.vad.reset()
    stages.asr.reset()
    stages.predictor.reset()
    if hasattr(stages.llm, "reset"):
        stages.llm.reset()
    timeline = Timeline(clock, MAX_TIMELINE_EVENTS)
    conversation: Conversation = instantiate(cfg.conversation)
    classifier: InterruptionClassifier = instantiate(cfg.interruptions)
    splitter: PhraseSplitter = instantiate(cfg.phrases)
    echo = None if cfg.echo is None else instantiate(cfg.echo)
    return Engine(
        stages.avatar, stages.vad, stages.asr, stages.predictor, ResponsePolicy(**stages.policy_args),
        stages.llm, stages.tts, splitter, stages.persona, conversation, classifier, echo, sink, clock, timeline,
        EngineOptions(**options),
    )  # fmt: skip
