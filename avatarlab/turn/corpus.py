"""Generate the turn corpus: `python -m avatarlab.turn.corpus [out=DIR] [n_turns=N] [seed=S]`.

Writes ``train.jsonl``, ``val.jsonl``, ``test.jsonl`` (split by template family), ``audio/ID.flac``
(16 kHz mono, speech synthesized offline by espeak-ng) and ``manifest.json``. Deterministic by seed;
a finished corpus with the same parameters is left as it is (``force=true`` rebuilds it).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import hydra
import numpy as np
import soundfile as sf
from omegaconf import DictConfig, ListConfig

from avatarlab.atomic import atomic_path
from avatarlab.cli import checked, config_dir, run_cli
from avatarlab.errors import UserInputError
from avatarlab.turn.format import Turn, write_corpus
from avatarlab.turn.generator import RenderOptions, ScriptOptions, make_turn
from avatarlab.turn.templates import FAMILIES, KINDS, Family
from avatarlab.turn.tts import EspeakSynthesizer

log = logging.getLogger(__name__)

CORPUS_FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")
Options = TypeVar("Options", ScriptOptions, RenderOptions)


def split_families(
    families: tuple[Family, ...], seed: int, val_fraction: float, test_fraction: float
) -> dict[str, list[str]]:
    """Assign whole families to splits, per kind, so every split holds every kind."""
    rng = np.random.default_rng([seed, 7919])
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for kind in KINDS:
        names = sorted(f.name for f in families if f.kind == kind)
        order = [names[i] for i in rng.permutation(len(names))]
        n_test = max(1, int(round(len(names) * test_fraction))) if test_fraction > 0 else 0
        n_val = max(1, int(round(len(names) * val_fraction))) if val_fraction > 0 else 0
        if n_test + n_val >= len(names):
            raise UserInputError(
                f"kind {kind!r} has {len(names)} families: too few for val and test", "lower val_fraction/test_fraction"
            )
        out["test"] += order[:n_test]
        out["val"] += order[n_test : n_test + n_val]
        out["train"] += order[n_test + n_val :]
    return {s: sorted(v) for s, v in out.items()}


def options(kind: type[Options], values: Mapping[str, Any]) -> Options:
    """`kind` (ScriptOptions or RenderOptions) from its node of configs/turn_corpus.yaml, lists as tuples."""
    return kind(**{k: tuple(v) if isinstance(v, (list, ListConfig)) else v for k, v in values.items()})


def generate_corpus(
    out_dir: str | Path,
    *,
    n_turns: int,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    script: ScriptOptions,
    render: RenderOptions,
    force: bool,
) -> Path:
    """Write a corpus directory atomically and return it (kept as is if already complete and identical)."""
    if n_turns < len(SPLITS):
        raise UserInputError(f"n_turns={n_turns} is too small", "ask for at least a few dozen turns")
    out = Path(out_dir)
    params = {
        "format_version": CORPUS_FORMAT_VERSION,
        "n_turns": n_turns,
        "seed": seed,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "script": asdict(script),
        "render": asdict(render),
        "tts": "espeak-ng",
    }
    manifest_path = out / "manifest.json"
    if manifest_path.is_file() and not force:
        old = json.loads(manifest_path.read_text())
        if old.get("complete") and json.loads(json.dumps(old.get("params"))) == json.loads(json.dumps(params)):
            log.info("corpus %s is already complete with these parameters (force=true rebuilds it)", out)
            return out
        if out.exists():
            raise UserInputError(
                f"{out} holds a corpus made with other parameters", "pass force=true to replace it, or another out=DIR"
            )
    elif out.exists() and any(out.iterdir()) and not force:
        raise UserInputError(
            f"{out} exists and is not a turn corpus", "pass another out=DIR, or force=true to replace it"
        )

    splits = split_families(FAMILIES, seed, val_fraction, test_fraction)
    split_of = {name: s for s, names in splits.items() for name in names}
    by_name = {f.name: f for f in FAMILIES}
    names = sorted(by_name)
    synth = EspeakSynthesizer()
    started = time.perf_counter()
    with atomic_path(out) as tmp:
        (tmp / "audio").mkdir(parents=True)
        turns: dict[str, list[Turn]] = {s: [] for s in SPLITS}
        for index in range(n_turns):
            rng = np.random.default_rng([seed, index])
            family = by_name[names[int(rng.integers(len(names)))]]
            split = split_of[family.name]
            turn_id = f"{split}-{index:05d}"
            turn, audio = make_turn(turn_id, family, split, rng, synth, script, render)
            path = tmp / "audio" / f"{turn_id}.flac"
            sf.write(path, audio, render.sample_rate, subtype="PCM_16")
            turn.audio = path
            turns[split].append(turn)
            if (index + 1) % 500 == 0:
                log.info("%d/%d turns (%.0f s)", index + 1, n_turns, time.perf_counter() - started)
        for split, items in turns.items():
            write_corpus(tmp / f"{split}.jsonl", items)
        if (out / "cache").is_dir():  # embeddings are keyed by text: still valid for a rebuilt corpus
            (out / "cache").rename(tmp / "cache")
        manifest: dict[str, Any] = {
            "complete": True,
            "params": params,
            "families": splits,
            "counts": {s: len(v) for s, v in turns.items()},
            "endings": {s: dict(Counter(t.ending.split(":")[0] for t in v)) for s, v in turns.items()},
            "seconds": round(time.perf_counter() - started, 1),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    log.info("wrote %d turns to %s in %.0f s: %s", n_turns, out, time.perf_counter() - started, manifest["counts"])
    return out


def run(cfg: DictConfig) -> Path:
    """Check the command's options, generate the corpus, and say where it is."""
    n_turns, seed = checked("n_turns", cfg.n_turns, int, minimum=10), checked("seed", cfg.seed, int)
    val_fraction, test_fraction = (
        checked("val_fraction", cfg.val_fraction, float, above=0.0),
        checked("test_fraction", cfg.test_fraction, float, above=0.0),
    )
    if val_fraction + test_fraction >= 1.0:
        raise UserInputError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction} leaves no training turns",
            "keep their sum below 1 (0.15 each by default)",
        )
    out = generate_corpus(
        cfg.out,
        n_turns=n_turns,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        script=options(ScriptOptions, cfg.script),
        render=options(RenderOptions, cfg.render),
        force=bool(cfg.force),
    )
    print(f"turn corpus: {out} (train.jsonl, val.jsonl, test.jsonl, audio/)")
    return out


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="turn_corpus")
def main(cfg: DictConfig) -> None:
    run_cli(lambda: run(cfg))


if __name__ == "__main__":
    main()
