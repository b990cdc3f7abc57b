"""Every config composes, every object it names is built with the config's values, and each of those values
is written once: in the YAML, never again as a Python default of the class it builds."""

from __future__ import annotations

import dataclasses
import inspect
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf, open_dict

from avatarlab.avatar.encodings import TriPlane
from avatarlab.cli import CONFIG_DIR
from avatarlab.config_args import HYDRA_KEYS, locate, plain
from avatarlab.errors import UserInputError
from avatarlab.turn.model import TurnModelConfig

EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
TOP_LEVEL = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _compose(name: str, overrides: list[str], tmp_path: Path):  # type: ignore[no-untyped-def]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
        cfg.paths.log_dir = str(tmp_path)
        del cfg["hydra"]
    return cfg


def test_default_experiment_exists() -> None:
    default = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "train.yaml").defaults)
    chosen = next(d["experiment"] for d in default if isinstance(d, dict) and "experiment" in d)
    assert chosen in EXPERIMENTS


def _composed(name: str, overrides: list[str]) -> DictConfig:
    """A config as Hydra composes it, interpolations left unresolved."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides)
    GlobalHydra.instance().clear()
    return cfg


def avatarlab_nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted path, node) of every node with an avatarlab `_target_`, nested ones included."""
    if isinstance(node, dict):
        if str(node.get("_target_", "")).startswith("avatarlab."):
            yield path, node
        for key, child in node.items():
            yield from avatarlab_nodes(child, f"{path}.{key}" if path else str(key))


def python_defaults(target: Any) -> set[str]:
    """Parameters of `target` (a class or function) that have a Python default (dataclass field defaults too)."""
    found = {n for n, p in inspect.signature(target).parameters.items() if p.default is not inspect.Parameter.empty}
    if dataclasses.is_dataclass(target):
        found |= {
            f.name
            for f in dataclasses.fields(target)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }
    return found


def duplicated_values(cfg: DictConfig) -> list[str]:
    """`path.key (target)` for every key a config sets that its target also defaults in Python."""
    found = []
    for path, node in avatarlab_nodes(OmegaConf.to_container(cfg, resolve=False)):
        target = locate(node["_target_"])
        found += [f"{path}.{key} ({node['_target_']})" for key in sorted(set(node) & python_defaults(target))]
    return found


CONFIGS = [("train", [f"experiment={e}"]) for e in EXPERIMENTS] + [(n, []) for n in TOP_LEVEL if n != "train"]
# The serve groups' second options (the defaults are composed above).
CONFIGS += [("serve", ["serve/llm@llm=openai", "serve/tts@tts=piper"])]


@pytest.mark.parametrize("name,overrides", CONFIGS, ids=[" ".join([n, *o]) for n, o in CONFIGS])
def test_config_values_are_not_python_defaults(name: str, overrides: list[str]) -> None:
    cfg = _composed(name, overrides)
    for path, node in avatarlab_nodes(OmegaConf.to_container(cfg, resolve=False)):
        unknown = set(node) - HYDRA_KEYS - set(inspect.signature(locate(node["_target_"])).parameters)
        assert not unknown, f"{path}: {node['_target_']} takes no {sorted(unknown)}"
    duplicates = duplicated_values(cfg)
    assert not duplicates, "set in the YAML and defaulted in Python (drop the Python default):\n" + "\n".join(
        duplicates
    )


def test_every_avatarlab_target_is_checked() -> None:
    """The composed configs above reach every avatarlab `_target_` written anywhere in configs/."""
    written = {
        target
        for file in CONFIG_DIR.rglob("*.yaml")
        for target in re.findall(r"_target_:\s*(avatarlab\.[\w.]+)", file.read_text())
    }
    reached = {
        node["_target_"]
        for name, overrides in CONFIGS
        for _, node in avatarlab_nodes(OmegaConf.to_container(_composed(name, overrides), resolve=False))
    }
    assert written and written <= reached, written - reached


def test_the_check_finds_a_value_defaulted_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python default put back (TurnModelConfig.end_embedding once defaulted to True, the YAML says false) is
    reported at the nested node that sets it; a keyword default counts as a dataclass field default does."""
    from avatarlab.turn import model

    @dataclasses.dataclass(kw_only=True)
    class WithDefault(model.TurnModelConfig):
        end_embedding: bool = True

    monkeypatch.setattr(model, "TurnModelConfig", WithDefault)
    cfg = _composed("train", ["experiment=turn_quickstart"])
    assert duplicated_values(cfg) == ["model.net.end_embedding (avatarlab.turn.model.TurnModelConfig)"]

    def build(size: int, fps: float = 25.0) -> None: ...

    assert python_defaults(build) == {"fps"}


# What the main of each command (configs/<file>) hands the file's values to: (node of the file, "" for its top
# level; the function or class whose arguments the node's keys are; {key: parameter} where the names differ).
COMMAND_TARGETS: dict[str, list[tuple[str, str, dict[str, str]]]] = {
    "bench_loop.yaml": [],  # the serve config and a few benchmark keys; its `_target_` nodes are checked above
    "evaluate.yaml": [("", "avatarlab.evaluate.evaluate", {"run": "run_dir"})],
    "export.yaml": [
        ("", "avatarlab.export.__main__.export", {"run": "run_dir"}),
        ("", "avatarlab.export.avatar.export_run", {"run": "run_dir"}),
        ("", "avatarlab.export.turn.export_run", {"run": "run_dir"}),
    ],
    "prepare.yaml": [
        ("", "avatarlab.data.prepare.prepare_subject", {"input": "input_path"}),
        ("params", "avatarlab.data.prepare.PrepareParams", {}),
    ],
    "render.yaml": [("", "avatarlab.render.render", {})],
    "say.yaml": [("", "avatarlab.data.speech.say", {})],
    "serve.yaml": [],  # serve.py builds its `_target_` nodes (checked above) and reads a few plain keys
    "synthetic.yaml": [
        ("", "avatarlab.data.synthetic.generate", {}),
        ("params", "avatarlab.data.synthetic.SyntheticParams", {}),
    ],
    "train.yaml": [],  # train(cfg) builds the `_target_` nodes, checked above
    "turn_corpus.yaml": [
        ("", "avatarlab.turn.corpus.generate_corpus", {"out": "out_dir"}),
        ("script", "avatarlab.turn.generator.ScriptOptions", {}),
        ("render", "avatarlab.turn.generator.RenderOptions", {}),
    ],
    "turn_evaluate.yaml": [("", "avatarlab.turn.evaluate.evaluate", {"word_delay_s": "word_delays"})],
    "turn_calibrate.yaml": [("", "avatarlab.turn.calibrate.calibrate", {"word_delay_s": "word_delays"})],
    "turn_loro.yaml": [("", "avatarlab.turn.loro.leave_one_recording_out", {})],
    "turn_real.yaml": [
        ("", "avatarlab.turn.real.build_real_corpus", {"asr_model_dir": "model_dir"}),
        ("rule", "avatarlab.turn.real.TurnRule", {}),
    ],
    "turn_transcribe.yaml": [("", "avatarlab.turn.transcribe.transcribe", {"asr_model_dir": "model_dir"})],
}


def command_defaults(file: str) -> list[str]:
    """`key -> target.parameter` for every key configs/<file> sets that the target its command hands it to also
    defaults in Python."""
    found = []
    for key, name, renamed in COMMAND_TARGETS[file]:
        node = OmegaConf.load(CONFIG_DIR / file)
        node = OmegaConf.select(node, key) if key else node
        keys = set(node) - HYDRA_KEYS - {"defaults", "hydra"}
        target = locate(name)
        parameters = set(inspect.signature(target).parameters)
        assert set(renamed) <= keys and set(renamed.values()) <= parameters, f"{file}: stale renames {renamed}"
        arguments = {renamed.get(k, k): f"{key}.{k}" if key else k for k in keys}
        assert set(arguments) & parameters, f"no key of configs/{file} {key} is an argument of {name}"
        found += [f"{arguments[p]} -> {name}.{p}" for p in sorted(set(arguments) & python_defaults(target))]
    return found


@pytest.mark.parametrize("file", sorted(COMMAND_TARGETS))
def test_command_values_are_not_python_defaults(file: str) -> None:
    duplicates = command_defaults(file)
    assert not duplicates, f"set in configs/{file} and defaulted in Python (drop the Python default):\n" + "\n".join(
        duplicates
    )


def test_every_command_config_is_in_the_table() -> None:
    assert sorted(COMMAND_TARGETS) == sorted(p.name for p in CONFIG_DIR.glob("*.yaml"))


def test_the_command_check_finds_a_value_defaulted_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python default put back (say's rate, 16000 as in configs/say.yaml) is reported with the key that sets it."""
    from avatarlab.data import speech

    def say(text: str, out: str, *, engine: str, rate: int = 16000) -> float: ...

    monkeypatch.setattr(speech, "say", say)
    assert command_defaults("say.yaml") == ["rate -> avatarlab.data.speech.say.rate"]


def _arguments(node: DictConfig) -> dict[str, Any]:
    return {k: v for k, v in plain(node).items() if k not in HYDRA_KEYS}


def _weights_only_round_trip(value: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _check_avatar_data(dm: Any, data: dict[str, Any]) -> None:
    assert dm.subject_dir == data["subject_dir"] and dm.num_workers == data["num_workers"]
    assert dm.kwargs == {k: data[k] for k in dm.kwargs} and dm.val_count == data["val_frames"]
    assert dm.box_margins == (tuple(data["box_margins"]) if data["box_margins"] else None)
    dm.setup()


def _check_turn_data(dm: Any, data: dict[str, Any]) -> None:
    assert dm.corpus_dir == Path(data["corpus_dir"])
    names = ["train_file", "val_file", "batch_size", "val_samples", "val_batch_size", "tail_s", "word_delay_s"]
    names += ["p_same_ref", "seed", "pause_focus"]
    assert {n: getattr(dm, n) for n in names} == {n: data[n] for n in names}
    assert dm.feature_spec.window_words == data["window_words"]
    assert dm.feature_spec.quantize_embedder == data["quantize_embedder"]


def _check_avatar_module(module: Any, cfg: DictConfig, dm: Any) -> None:
    args = _arguments(cfg.model.model)
    assert module.model_args == args and module.hparams["model"] == args
    for key, value in _arguments(cfg.model).items():
        if key != "model":
            assert module.hparams[key] == value, key
    assert module.a2kp_loss_weights == cfg.model.a2kp_loss_weights
    module.build(dm.subject_info(), "cpu")
    m = module.model
    assert (m.condition, m.chunk_rays) == (args["condition"], args["chunk_rays"])
    assert (m.candidates, m.train_samples, m.render_samples) == tuple(
        args[k] for k in ("candidates", "train_samples", "render_samples")
    )
    assert (m.occupancy.resolution, m.occupancy.threshold) == (
        args["occupancy_resolution"],
        args["occupancy_threshold"],
    )
    assert (m.head.deform is not None) == (args["deform_hidden"] > 0) and m.head.max_deform == args["max_deform"]
    assert isinstance(m.head.encoding, TriPlane) == (args["encoding"]["kind"] == "triplane")
    assert (m.audio2kp.past, m.audio2kp.future) == (args["audio_past"], args["audio_future"])
    assert (m.audio_code is not None) == (args["condition"] == "audio")
    checkpoint: dict[str, Any] = {}
    module.on_save_checkpoint(checkpoint)
    stored = _weights_only_round_trip({"args": checkpoint["avatar_model_args"], "hparams": dict(module.hparams)})
    assert stored["args"] == args and stored["hparams"] == dict(module.hparams)


def _check_turn_module(module: Any, cfg: DictConfig) -> None:
    net = _arguments(cfg.model.net)
    assert module.hparams["net"] == net
    assert module.hparams["policy"] == _arguments(cfg.model.policy)
    for key, value in _arguments(cfg.model).items():
        if key not in ("net", "policy"):
            assert module.hparams[key] == value, key
    c = module.model.config
    assert {k: getattr(c, k) for k in net} == net
    assert module.model.end_head[0].in_features == (c.emb_proj if c.end_embedding else 0) + c.word_dim + c.tick_dim
    checkpoint: dict[str, Any] = {}
    module.on_save_checkpoint(checkpoint)
    stored = _weights_only_round_trip({"config": checkpoint["turn_model_config"], "hparams": dict(module.hparams)})
    assert TurnModelConfig(**stored["config"]) == c and stored["hparams"] == dict(module.hparams)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_train_config_instantiates(experiment: str, tmp_path: Path, tiny_subject: Path) -> None:
    avatar = experiment.startswith("avatar_")
    overrides = [f"experiment={experiment}"] + [f"data.subject_dir={tiny_subject}"] * avatar
    cfg = _compose("train", overrides, tmp_path)
    OmegaConf.resolve(cfg)
    assert cfg.task_name == experiment
    for group in ("callbacks", "logger"):
        for node in cfg[group].values():
            assert type(instantiate(node)) is locate(node._target_)
    checkpoints = instantiate(cfg.callbacks.model_checkpoint)
    assert isinstance(checkpoints, ModelCheckpoint)
    assert checkpoints._every_n_train_steps == cfg.callbacks.model_checkpoint.every_n_train_steps
    if cfg.trainer.get("accelerator") == "gpu" and not torch.cuda.is_available():
        with open_dict(cfg):  # a GPU config is built on the CPU here; its other settings still apply
            cfg.trainer.update(accelerator="cpu", devices=1, strategy="auto", precision="32-true")
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False, callbacks=[])
    assert (trainer.max_steps, trainer.log_every_n_steps) == (cfg.trainer.max_steps, cfg.trainer.log_every_n_steps)
    dm = instantiate(cfg.data)
    module = instantiate(cfg.model)
    assert type(dm) is locate(cfg.data._target_) and type(module) is locate(cfg.model._target_)
    if avatar:
        _check_avatar_data(dm, plain(cfg.data))
        _check_avatar_module(module, cfg, dm)
    else:
        _check_turn_data(dm, plain(cfg.data))
        _check_turn_module(module, cfg)


@pytest.mark.parametrize(
    "experiment,node", [("avatar_quickstart", "model.model"), ("turn_quickstart", "model.net")], ids=["avatar", "turn"]
)
@pytest.mark.parametrize(
    "change,named",
    [
        ("+{node}.hiden=64", "hiden"),
        ("~{node}.hidden", "hidden"),
        ("{node}._target_=avatarlab.errors.UserInputError", ""),
    ],
    ids=["unknown", "missing", "other class"],
)
def test_model_arguments_are_checked_at_construction(
    experiment: str, node: str, change: str, named: str, tmp_path: Path
) -> None:
    cfg = _compose("train", [f"experiment={experiment}", change.format(node=node)], tmp_path)
    with pytest.raises(InstantiationException, match=re.escape(node)) as raised:
        instantiate(cfg.model)
    assert isinstance(raised.value.__cause__, UserInputError) and named in str(raised.value)


@pytest.mark.parametrize(
    "name,overrides", [("prepare", ["input=video.mp4", "name=me"]), ("synthetic", []), ("serve", [])]
)
def test_command_configs_compose(name: str, overrides: list[str], tmp_path: Path) -> None:
    cfg = _compose(name, overrides, tmp_path)
    OmegaConf.resolve(cfg)
    if "params" in cfg:
        params = instantiate(cfg.params)
        assert type(params) is locate(cfg.params._target_)
        assert dataclasses.asdict(params) == _arguments(cfg.params)


def test_hydra_does_not_change_directory(tmp_path: Path) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", return_hydra_config=True)
    assert cfg.hydra.job.chdir is False


def test_one_owner_of_cv2() -> None:
    from importlib.metadata import PackageNotFoundError, distribution

    owners = []
    for name in ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"):
        try:
            distribution(name)
            owners.append(name)
        except PackageNotFoundError:
            pass
    assert owners == ["opencv-contrib-python"], owners
