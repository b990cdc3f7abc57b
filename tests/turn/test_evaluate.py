"""Evaluation: replay in 10 ms ticks, the same live or batched, figures for the policy and both baselines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avatarlab.config_args import config_args, config_values
from avatarlab.runtime.response_policy import ExactReusePolicy, ResponsePolicy, SilencePolicy
from avatarlab.runtime.turn_predictor import TurnPredictor
from avatarlab.turn.evaluate import evaluate
from avatarlab.turn.format import read_corpus
from avatarlab.turn.metrics import f1, roc_auc
from avatarlab.turn.replay import replay
from avatarlab.turn.tables import load_turn_audio, make_embedding_cache

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_streaming_and_batched_replay_agree(tiny_bundle: Path, tiny_corpus: Path) -> None:
    probe = TurnPredictor.from_bundle(tiny_bundle, embed=lambda t: None)
    predictor = TurnPredictor(probe.model, probe.spec, make_embedding_cache(tiny_corpus, probe.spec))
    thresholds = config_args("model/turn.yaml", "policy")
    policies = [ResponsePolicy(**thresholds), ExactReusePolicy(**thresholds), SilencePolicy(0.7)]
    for turn in read_corpus(tiny_corpus / "test.jsonl")[:4]:
        audio = load_turn_audio(turn, 16000)
        live = replay(turn, audio, predictor, policies, streaming=True)
        fast = replay(turn, audio, predictor, policies, streaming=False)
        np.testing.assert_allclose(live.p_end, fast.p_end, atol=1e-5)
        assert live.outcomes == fast.outcomes
        assert all(o.commit_t is not None for o in live.outcomes.values())


@pytest.mark.slow
def test_evaluate_reports_policy_and_baselines(tiny_bundle: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    options = ("policy", "silence_timeout_s", "tail_s", "llm_first_words_s", "limit", "streaming", "bootstrap")
    delays = config_values("turn_evaluate.yaml", "word_delay_s")["word_delay_s"]
    assert delays == [0.0, 0.2, 0.4]  # the default reports all three
    results = evaluate(
        tiny_bundle,
        tiny_corpus / "test.jsonl",
        tmp_path / "eval",
        word_delays=delays,
        **config_values("turn_evaluate.yaml", *options),
    )
    assert [d["word_delay_s"] for d in results["by_delay"]] == delays
    late = {r["policy"]: r for r in results["by_delay"][2]["rows"]}
    rows = {r["policy"]: r for r in results["by_delay"][0]["rows"]}
    assert late["silence_700ms"]["latency_median_ms"] == rows["silence_700ms"]["latency_median_ms"]
    field = results["by_delay"][0]["field"]
    assert set(field) == {"predictor", "silence"}
    for figures in field.values():
        lo, hi = figures["end_auc"]["ci95"]
        assert lo <= figures["end_auc"]["value"] <= hi
        assert figures["false_cutoff_300ms"]["value"] >= figures["false_cutoff_600ms"]["value"]
    assert field["silence"]["end_auc"]["value"] == pytest.approx(rows["silence_700ms"]["end_auc"])
    assert set(rows) == {"predictor", "exact_reuse", "silence_700ms"}
    silence = rows["silence_700ms"]
    assert 690 <= silence["latency_median_ms"] <= 760 and silence["reuse_non_pivot"] == 0
    assert rows["predictor"]["latency_median_ms"] < silence["latency_median_ms"]
    assert rows["exact_reuse"]["early_reuse_additions"] == 0  # never reuses a draft that words followed
    assert rows["predictor"]["end_auc"] > 0.8
    for name in ("results.json", "table.md", "turns.csv", "latency_hist.png", "cutoff_curve.png"):
        assert (tmp_path / "eval" / name).is_file()
    table = (tmp_path / "eval" / "table.md").read_text()
    assert "false cut-in" in table and "wrong draft" in table and "false cut-off at 300 ms" in table
    assert "words known 0.40 s after they end" in table
    assert json.loads((tmp_path / "eval" / "results.json").read_text())["turns"] == len(
        read_corpus(tiny_corpus / "test.jsonl")
    )


@pytest.mark.slow
def test_evaluate_command_line(tiny_bundle: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "avatarlab.turn.evaluate",
            f"bundle={tiny_bundle}",
            f"corpus={tiny_corpus / 'test.jsonl'}",
            f"out={tmp_path / 'cli'}",
            "limit=5",
            "policy.commit_threshold=0.8",
            "word_delay_s=0.2",
            "bootstrap=50",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    assert (
        "| predictor |" in ok.stdout
        and json.loads((tmp_path / "cli" / "results.json").read_text())["policy"]["commit_threshold"] == 0.8
    )
    assert [d["word_delay_s"] for d in json.loads((tmp_path / "cli" / "results.json").read_text())["by_delay"]] == [0.2]
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "avatarlab.turn.evaluate",
            f"bundle={tiny_bundle}",
            f"corpus={tmp_path / 'none.jsonl'}",
            f"out={tmp_path / 'x'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "fix:" in bad.stderr
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "avatarlab.turn.evaluate",
            f"bundle={tmp_path}",
            f"corpus={tiny_corpus / 'test.jsonl'}",
            f"out={tmp_path / 'x'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "manifest.json" in bad.stderr


def test_metrics() -> None:
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))
    assert f1(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])) == pytest.approx(0.5)
