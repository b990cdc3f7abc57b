"""The corpus generator: deterministic by seed, splits disjoint by family, sound annotations and audio."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avatarlab.config_args import config_args
from avatarlab.errors import UserInputError
from avatarlab.turn.corpus import generate_corpus, options, split_families
from avatarlab.turn.format import read_corpus
from avatarlab.turn.generator import ScriptOptions, compose
from avatarlab.turn.templates import FAMILIES, KINDS
from avatarlab.turn.tts import EspeakSynthesizer, Voice
from tests.helpers.configs import corpus_args

REPO = Path(__file__).resolve().parents[2]


def _generate(out: Path, seed: int) -> Path:
    """In a fresh process, as a user runs it (espeak-ng keeps waveform state across utterances)."""
    code = (
        "from avatarlab.turn.corpus import generate_corpus; from tests.helpers.configs import corpus_args; "
        f"generate_corpus({str(out)!r}, **corpus_args(n_turns=24, seed={seed}))"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=300)
    return out


@pytest.mark.slow
def test_same_seed_same_corpus_other_seed_other_corpus(tmp_path: Path) -> None:
    a, b, c = _generate(tmp_path / "a", 5), _generate(tmp_path / "b", 5), _generate(tmp_path / "c", 6)
    for split in ("train", "val", "test"):
        assert (a / f"{split}.jsonl").read_bytes() == (b / f"{split}.jsonl").read_bytes()
    for audio in sorted((a / "audio").iterdir()):
        assert audio.read_bytes() == (b / "audio" / audio.name).read_bytes()
    texts = lambda d: [t.text for s in ("train", "val", "test") for t in read_corpus(d / f"{s}.jsonl")]  # noqa: E731
    assert texts(a) != texts(c)


def test_splits_hold_out_whole_families_of_every_kind() -> None:
    splits = split_families(FAMILIES, seed=0, val_fraction=0.15, test_fraction=0.15)
    sets = {name: set(members) for name, members in splits.items()}
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
    assert set().union(*sets.values()) == {f.name for f in FAMILIES}
    kind_of = {f.name: f.kind for f in FAMILIES}
    for members in sets.values():
        assert {kind_of[m] for m in members} == set(KINDS)


def test_generated_turns_are_consistent(tiny_corpus: Path) -> None:
    manifest = json.loads((tiny_corpus / "manifest.json").read_text())
    assert manifest["complete"]
    seen: dict[str, str] = {}
    endings: Counter[str] = Counter()
    for split in ("train", "val", "test"):
        for turn in read_corpus(tiny_corpus / f"{split}.jsonl", check_audio=True):
            assert turn.split == split and turn.family in manifest["families"][split]
            assert seen.setdefault(turn.family, split) == split  # a family never crosses splits
            n = len(turn.words)
            starts = np.array([w.start for w in turn.words])
            ends = np.array([w.end for w in turn.words])
            assert np.all(np.diff(starts) >= 0) and np.all(ends > starts) and np.all(ends[:-1] <= starts[1:] + 1e-3)
            assert turn.end == pytest.approx(ends[-1])
            assert turn.complete_at is not None and 1 <= turn.complete_at <= n
            if turn.pivot_word is not None:
                assert turn.ending.startswith("pivot:") and turn.pivot_word < turn.complete_at
            else:
                assert not turn.ending.startswith("pivot")
            for hold in turn.extra["holds"]:
                assert turn.words[hold + 1].start - turn.words[hold].end >= 0.29
            audio, rate = sf.read(turn.audio)
            assert rate == 16000 and audio.ndim == 1 and len(audio) / rate >= turn.end + 1.9
            endings[turn.ending.split(":")[0]] += 1
    assert set(endings) == {"none", "addition", "pivot"}


def test_espeak_word_times_follow_the_audio() -> None:
    tokens = "Last night I was in India, having a wonderful conversation, until I woke up.".split()
    speech = EspeakSynthesizer().synthesize(tokens, Voice("en-us", 170, 50, 50))
    spans = np.array(speech.spans)
    assert len(spans) == len(tokens)
    assert np.all(np.diff(spans[:, 0]) > 0) and np.all(spans[:, 1] > spans[:, 0])
    assert spans[-1, 1] <= len(speech.audio) / speech.sample_rate + 1e-6
    gap_after_comma = spans[6, 0] - spans[5, 1]  # "India," -> "having": espeak pauses at the comma
    gap_inside = spans[3, 0] - spans[2, 1]
    assert gap_after_comma > 0.05 > gap_inside


def test_pivot_and_addition_annotations() -> None:
    rng = np.random.default_rng(3)
    family = next(f for f in FAMILIES if f.name == "dream_story")
    pivots = options(
        ScriptOptions, config_args("turn_corpus.yaml", "script", p_pivot=1.0, p_addition=0.0, p_second_ending=0.0)
    )
    scripts = [compose(family, rng, pivots) for _ in range(5)]
    for s in scripts:
        assert s.pivot_word is not None and s.complete_at == len(s.tokens) and s.ending.startswith("pivot:")
    additions = config_args(
        "turn_corpus.yaml", "script", p_pivot=0.0, p_addition=1.0, p_second_ending=0.0, p_opener=0.0, p_hold=0.0
    )
    plain = compose(family, rng, options(ScriptOptions, additions))
    assert plain.pivot_word is None and plain.complete_at < len(plain.tokens)


def test_a_turn_may_hold_the_floor_after_a_complete_sentence() -> None:
    family = next(f for f in FAMILIES if f.name == "dream_story")
    args = dict(p_pivot=0.0, p_addition=1.0, p_second_ending=0.0, p_opener=0.0, p_hold=0.0)
    held = options(ScriptOptions, config_args("turn_corpus.yaml", "script", p_complete_hold=1.0, **args))
    low, high = held.hold_s
    for script in (compose(family, np.random.default_rng(seed), held) for seed in range(5)):
        assert script.holds == [script.complete_at - 1]  # after the sentence's last word, before the addition
        assert low <= script.gaps[script.complete_at - 1] <= high
    never = options(ScriptOptions, config_args("turn_corpus.yaml", "script", p_complete_hold=0.0, **args))
    for script in (compose(family, np.random.default_rng(seed), never) for seed in range(5)):
        assert script.holds == [] and (script.gaps[script.complete_at - 1] or 0.0) < low  # None: as spoken


def test_rebuilding_with_other_parameters_needs_force(tmp_path: Path) -> None:
    out = generate_corpus(tmp_path / "c", **corpus_args(n_turns=12, seed=1))
    assert generate_corpus(out, **corpus_args(n_turns=12, seed=1)) == out  # complete and identical: kept as is
    with pytest.raises(UserInputError, match="other parameters"):
        generate_corpus(out, **corpus_args(n_turns=13, seed=1))


def test_command_line_reports_bad_input(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    result = subprocess.run(
        [sys.executable, "-m", "avatarlab.turn.corpus", f"out={tmp_path / 'x'}", "n_turns=10"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "is not a turn corpus" in result.stderr and "fix:" in result.stderr
