"""The turn benchmark: its figures follow from the measured updates, and a trained bundle meets the 10 ms bar."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from avatarlab.turn.features import arrival_step
from avatarlab.turn.format import read_corpus
from avatarlab.turn.tables import load_turn_audio

REPO = Path(__file__).resolve().parents[2]
ROWS = ("tick (10 ms of audio)", "word arrival (+embedding)", "all")


@pytest.fixture(scope="module")
def bench_turn() -> ModuleType:
    """scripts/bench_turn.py as a module."""
    spec = importlib.util.spec_from_file_location("bench_turn", REPO / "scripts" / "bench_turn.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_report(stdout: str) -> tuple[dict[str, list[float]], str, float]:
    """The table's rows (count, median, p90, p99, max), the verdict and the figure the bar line quotes."""
    rows = {}
    for name in ROWS:
        line = next(line for line in stdout.splitlines() if line.startswith(name))
        rows[name] = [float(x) for x in line[len(name) :].split()]
    bar = re.search(r"bar: one update <= 10 ms -> (met|NOT met) \(p99 of word-arrival updates.*: ([\d.]+) ms\)", stdout)
    assert bar, stdout
    return rows, bar.group(1), float(bar.group(2))


class FakePredictor:
    """Counts the words pushed; every update costs nothing."""

    def __init__(self) -> None:
        self.words: list[str] = []

    def reset(self) -> None:
        self.words = []

    def push_audio(self, samples: np.ndarray) -> None:
        assert len(samples) == 160  # 10 ms at 16 kHz

    def push_word(self, word: str, start: float, end: float) -> None:
        self.words.append(word)

    def set_reference(self, draft: object) -> None:
        pass

    def update(self, t: float) -> None:
        return None


class FakePolicy:
    draft = None

    def reset(self) -> None:
        pass

    def step(self, prediction: object) -> None:
        pass


def test_timed_turn_times_every_tick_and_sorts_word_arrivals(bench_turn: ModuleType, tiny_corpus: Path) -> None:
    turn = read_corpus(tiny_corpus / "test.jsonl", check_audio=True)[0]
    audio = load_turn_audio(turn, 16000)
    predictor = FakePredictor()
    ticks, words = bench_turn.timed_turn(predictor, FakePolicy(), turn, audio)
    arrivals = [arrival_step(w.end) for w in turn.words]
    steps = min(len(audio) // 160, arrivals[-1] + 100)
    assert len(ticks) + len(words) == steps
    assert len(words) == len({a for a in arrivals if a <= steps})  # one timing per tick at which words arrive
    assert predictor.words == [w.word for w, a in zip(turn.words, arrivals) if a <= steps] and predictor.words
    assert all(ms >= 0 for ms in ticks + words)


@pytest.mark.parametrize(
    "word_ms, verdict",
    [([2.0] * 98 + [3.0, 9.0], "met"), ([2.0] * 97 + [30.0, 30.0, 30.0], "NOT met")],
)
def test_report_judges_the_bar_by_the_p99_of_word_updates(
    bench_turn: ModuleType,
    word_ms: list[float],
    verdict: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = {"tick": np.array([0.5, 1.0, 1.5]), "word": np.array(word_ms)}
    monkeypatch.setattr(bench_turn, "bench", lambda *args: results)
    monkeypatch.setattr(sys, "argv", ["bench_turn.py", "bundle=unused"])
    bench_turn.main()
    rows, printed_verdict, worst = parse_report(capsys.readouterr().out)
    assert printed_verdict == verdict
    assert worst == pytest.approx(np.percentile(word_ms, 99), abs=0.005)
    assert rows["word arrival (+embedding)"][0] == len(word_ms) and rows["all"][0] == len(word_ms) + 3
    assert rows["tick (10 ms of audio)"][1:] == [1.0, 1.4, 1.49, 1.5]  # median, p90, p99, max


@pytest.mark.slow
def test_the_benchmark_reports_a_trained_bundles_update_times(tiny_bundle: Path, tiny_corpus: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "scripts/bench_turn.py",
            f"bundle={tiny_bundle}",
            f"corpus={tiny_corpus / 'test.jsonl'}",
            "turns=6",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows, verdict, worst = parse_report(result.stdout)
    ticks, words, every = (rows[name] for name in ROWS)
    assert words[0] > 0 and ticks[0] + words[0] == every[0]
    for count, median, p90, p99, highest in rows.values():
        assert count > 0 and 0 <= median <= p90 <= p99 <= highest
    assert worst == words[3]  # the bar line quotes the word-arrival p99
    assert verdict == ("met" if worst <= 10.0 else "NOT met")  # the bar itself is the benchmark's to judge


def test_missing_bundle_is_a_clear_error() -> None:
    bad = subprocess.run(
        [sys.executable, "scripts/bench_turn.py", "bundle=/nonexistent"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "error: no turn bundle at /nonexistent" in bad.stderr and "fix:" in bad.stderr
