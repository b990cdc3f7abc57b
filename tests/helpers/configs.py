"""Compose training configs for tests: any avatar experiment on a tiny subject, the turn experiment on a tiny
corpus, shrunk to a few steps; the arguments the turn corpus and transcribe commands give their functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from avatarlab.cli import CONFIG_DIR
from avatarlab.config_args import config_values

AVATAR_EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("avatar_*.yaml"))

TINY_OVERRIDES = [
    "debug=fast",
    "logger=csv",
    "trainer.max_steps=2",
    "trainer.val_check_interval=2",
    "trainer.limit_val_batches=1",
    "~callbacks.progress_bar",
    "+trainer.enable_progress_bar=false",
    "data.rays=128",
    "data.frames=2",
    "data.chunks=4",
    "data.chunk_length=4",
    "data.val_frames=1",
    "model.model.backend=torch",
    "model.model.encoding.num_levels=4",
    "model.model.encoding.log2_hashmap_size=10",
    "model.model.encoding.max_resolution=64",
    "model.model.torso_encoding.num_levels=4",
    "model.model.torso_encoding.log2_hashmap_size=10",
    "model.model.occupancy_resolution=16",
    "model.model.candidates=32",
    "model.model.train_samples=8",
    "model.model.render_samples=6",
    "model.occupancy_warmup=1",
    "model.occupancy_every=1",
    "model.video_every=2",
    "model.video_frames=2",
]


def tiny_train_config(
    experiment: str, subject_dir: str | Path, output_dir: str | Path, extra: list[str] | None = None
) -> DictConfig:
    """The train config of `experiment` on `subject_dir`, a few CPU steps, writing to `output_dir`."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    overrides = [f"experiment={experiment}", f"data.subject_dir={subject_dir}", *TINY_OVERRIDES, *(extra or [])]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir)
        del cfg["hydra"]
        if cfg.trainer.get("accelerator") == "gpu":  # GPU defaults run on the CPU here
            cfg.trainer.update(accelerator="cpu", devices=1, strategy="auto", precision="32-true")
    GlobalHydra.instance().clear()
    return cfg


TINY_TURN_STEPS = 400


def turn_train_config(corpus: str | Path, out: Path, overrides: list[str] | None = None) -> DictConfig:
    """The turn_quickstart experiment on `corpus`: csv logging, a few hundred steps, writing to `out`."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "experiment=turn_quickstart",
                "logger=csv",
                f"data.corpus_dir={corpus}",
                "data.val_samples=4000",
                f"trainer.max_steps={TINY_TURN_STEPS}",
                "trainer.val_check_interval=200",
                "callbacks.model_checkpoint.every_n_train_steps=200",
                *(overrides or []),
            ],
            return_hydra_config=True,
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.paths.log_dir = str(out.parent)
        del cfg["hydra"]
    GlobalHydra.instance().clear()
    return cfg


def corpus_args(**overrides: Any) -> dict[str, Any]:
    """generate_corpus's keyword arguments as configs/turn_corpus.yaml sets them (the output folder is the
    caller's), `overrides` in place of the file's values."""
    from avatarlab.turn.corpus import options
    from avatarlab.turn.generator import RenderOptions, ScriptOptions

    names = ("n_turns", "seed", "val_fraction", "test_fraction", "script", "render", "force")
    args = {**config_values("turn_corpus.yaml", *names), **overrides}
    return {**args, "script": options(ScriptOptions, args["script"]), "render": options(RenderOptions, args["render"])}


def transcribe_options() -> dict[str, Any]:
    """transcribe's keyword arguments as configs/turn_transcribe.yaml sets them (its asr_model_dir is model_dir)."""
    values = config_values("turn_transcribe.yaml", "segment_gap_s", "asr_model_dir", "compute_type", "threads")
    model_dir = values.pop("asr_model_dir")
    return {**values, "model_dir": model_dir}
