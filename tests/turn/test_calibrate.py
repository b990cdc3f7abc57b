"""End calibration: voice features, the trees against scikit-learn's, the calibrated bundle live and offline,
the commit threshold, and bad options."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from avatarlab.cli import CONFIG_DIR
from avatarlab.config_args import config_args
from avatarlab.runtime.response_policy import ResponsePolicy, SilencePolicy
from avatarlab.runtime.turn_predictor import TurnPredictor
from avatarlab.turn.calibrate import (
    CalibrationRows,
    calibrate,
    calibration_rows,
    calibration_setup,
    commit_threshold_for,
)
from avatarlab.turn.end_calibration import (
    CALIBRATION_INPUTS,
    CalibrationOptions,
    EndCalibration,
    calibration_inputs,
    fit_end_calibration,
    leaves_open,
)
from avatarlab.turn.features import TICK_NAMES
from avatarlab.turn.format import read_corpus
from avatarlab.turn.replay import replay
from avatarlab.turn.tables import load_turn_audio, make_embedding_cache
from avatarlab.turn.voice import VOICE_NAMES, VoiceTrack, voice_features

REPO = Path(__file__).resolve().parents[2]


def _speech_then_silence(tiny_corpus: Path) -> tuple[np.ndarray, float]:
    turn = read_corpus(tiny_corpus / "test.jsonl")[0]
    audio = load_turn_audio(turn, 16000)
    return np.concatenate([audio, np.zeros(16000, np.float32)]), turn.end


def test_voice_track_streams_as_it_reads_whole(tiny_corpus: Path) -> None:
    audio, end = _speech_then_silence(tiny_corpus)
    whole = VoiceTrack.from_audio(audio)
    streamed = VoiceTrack()
    for start in range(0, len(audio), 160):  # 10 ms chunks, as the live loop pushes them
        streamed.push(audio[start : start + 160])
    np.testing.assert_allclose(streamed.probs, whole.probs, atol=1e-6)
    steps = np.arange(1, len(audio) // 160 + 1)
    features = voice_features(whole, steps)  # [ticks, 5]
    assert features.shape == (len(steps), 5)
    np.testing.assert_allclose(features, voice_features(streamed, steps), atol=1e-6)
    speech = features[steps / 100 < end - 0.3]
    assert speech[:, 2].max() > 0.9  # the speech is heard as speech
    last = features[-1]
    assert last[0] > 1.0 and last[2] < 0.1  # a second of digital silence at the end: no voice
    assert np.all(np.diff(features[steps / 100 > end + 0.5, 0]) >= 0)  # its silence only grows


def test_voice_hold_is_the_longest_pause_between_speech(tiny_corpus: Path) -> None:
    audio, end = _speech_then_silence(tiny_corpus)
    speech = audio[: int(end * 16000)]
    held = np.concatenate([speech, np.zeros(9600, np.float32), speech, np.zeros(16000, np.float32)])  # a 0.6 s hold
    track = VoiceTrack.from_audio(held)
    steps = np.arange(1, len(held) // 160 + 1)
    hold = voice_features(track, steps)[:, VOICE_NAMES.index("voice_hold")]
    assert hold[steps / 100 < end].max() < 0.3  # no long pause inside the first utterance
    alone = VoiceTrack.from_audio(speech)  # the utterance's own silence before and after its voice
    first, last = np.flatnonzero(alone.probs >= 0.5)[[0, -1]]
    expected = 0.6 + (first + alone.n - last - 1) * alone.frame_s
    assert abs(hold[-1] - expected) <= 0.2  # the 0.6 s pause and the edges (silero carries state: +-6 frames)
    second_starts = end + 0.6
    assert hold[(steps / 100 > end) & (steps / 100 < second_starts)].max() < 0.3  # a pause counts once it is over
    assert np.all(np.diff(hold) >= 0)  # the longest so far never shrinks (the final silence is no hold)


def test_unheard_speech_is_the_voice_after_the_newest_word() -> None:
    ticks = 3
    tick = np.zeros((ticks, len(TICK_NAMES)), np.float32)
    tick[:, TICK_NAMES.index("pause")] = [0.0, 0.5, 0.5]  # seconds since the newest known word ended
    voice = np.zeros((ticks, len(VOICE_NAMES)), np.float32)
    voice[:, VOICE_NAMES.index("voice_silence")] = [0.2, 0.1, 0.6]
    inputs = calibration_inputs(tick, voice, np.array([0.0, 1.0, 0.0]), np.zeros(ticks))
    np.testing.assert_allclose(inputs[:, CALIBRATION_INPUTS.index("unheard_speech")], [0.0, 0.4, 0.0], atol=1e-6)
    np.testing.assert_allclose(inputs[:, CALIBRATION_INPUTS.index("open_word")], [0.0, 1.0, 0.0])


@pytest.mark.parametrize(
    ("token", "open_"),
    [("and", True), ("the", True), ("been", True), ("i've", True), ("um", True), ("dream", False), ("ride", False)],
)
def test_words_that_leave_a_sentence_open(token: str, open_: bool) -> None:
    assert leaves_open(token) is open_


def _options() -> CalibrationOptions:
    return CalibrationOptions(**config_args("calibration/default.yaml", "trees"))


def test_trees_score_as_scikit_learn_does_and_round_trip() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, len(CALIBRATION_INPUTS)))
    y = (x[:, 2] + 0.5 * x[:, -1] - 0.5 * x[:, -2] + 0.3 * rng.normal(size=len(x))) > 0
    weight = rng.uniform(0.5, 1.5, len(x))
    options = dataclasses.replace(_options(), min_samples_leaf=20)
    calibration = fit_end_calibration(x, y, weight, options)
    reference = HistGradientBoostingClassifier(
        max_depth=options.max_depth,
        max_iter=options.max_iter,
        learning_rate=options.learning_rate,
        min_samples_leaf=options.min_samples_leaf,
        l2_regularization=options.l2_regularization,
        monotonic_cst=[options.monotonic.get(n, 0) for n in CALIBRATION_INPUTS],
        early_stopping=False,
        random_state=0,
    ).fit(x, y, sample_weight=weight)
    test = rng.normal(size=(500, len(CALIBRATION_INPUTS)))
    np.testing.assert_allclose(calibration.logit(test), reference.decision_function(test), atol=1e-9)
    stored = json.loads(json.dumps(calibration.to_dict()))
    np.testing.assert_allclose(EndCalibration.from_dict(stored).logit(test), calibration.logit(test), atol=1e-12)
    more_silence = test.copy()
    more_silence[:, CALIBRATION_INPUTS.index("silence")] += 1.0
    assert np.all(calibration.logit(more_silence) >= calibration.logit(test) - 1e-12)  # monotone, as configured


def test_bad_calibration_input_is_refused() -> None:
    with pytest.raises(ValueError, match="monotonic names"):
        fit_end_calibration(
            np.zeros((4, len(CALIBRATION_INPUTS))),
            np.array([0, 1, 0, 1]),
            np.ones(4),
            dataclasses.replace(_options(), monotonic={"loudness": 1}),
        )
    stored = fit_end_calibration(
        np.arange(8.0)[:, None].repeat(len(CALIBRATION_INPUTS), 1),
        np.arange(8) > 3,
        np.ones(8),
        dataclasses.replace(_options(), min_samples_leaf=1, max_iter=2),
    ).to_dict()
    with pytest.raises(ValueError, match="not this avatarlab's"):
        EndCalibration.from_dict({**stored, "inputs": stored["inputs"][:-1]})


def test_commit_threshold_allows_the_chosen_share_of_cut_ins() -> None:
    # four hearings; while words were still to come their p_end peaked at 0.2, 0.5, 0.7 and 0.9 in silence
    peaks = [0.2, 0.5, 0.7, 0.9]
    x, y, hearing, p = [], [], [], []
    for i, peak in enumerate(peaks):
        for silence, p_end, done in ((0.0, 0.95, False), (0.3, peak, False), (0.5, 0.99, True)):
            row = np.zeros(len(CALIBRATION_INPUTS))
            row[CALIBRATION_INPUTS.index("silence")] = silence
            x.append(row), y.append(done), hearing.append(i), p.append(p_end)
    rows = CalibrationRows(np.array(x), np.array(y), np.array(hearing), np.zeros(len(x)))
    p_end = np.array(p)
    assert commit_threshold_for(p_end, rows, 0.0, 0.1, 1.5) == pytest.approx(0.9)  # above every peak
    assert commit_threshold_for(p_end, rows, 0.25, 0.1, 1.5) == pytest.approx(0.7)  # one of four may cut in
    assert commit_threshold_for(p_end, rows, 0.5, 0.1, 1.5) == pytest.approx(0.5)
    assert 0.9 < commit_threshold_for(p_end, rows, 0.0, 0.1, 1.5) < 0.9 + 1e-9
    later = dataclasses.replace(rows, delay=np.where(rows.hearing < 2, 0.0, 0.4))  # hearings 2, 3: words 0.4 s late
    assert commit_threshold_for(p_end, later, 0.5, 0.1, 1.5) == pytest.approx(0.7)  # one of two at each delay


REAL_TURNS = 6
REAL_CUT_IN_SHARE = 0.1  # the calibrated bundle's threshold also bounds the real turns' cut-ins


@pytest.fixture(scope="module")
def calibrated(tiny_bundle: Path, tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    node = OmegaConf.load(CONFIG_DIR / "calibration" / "default.yaml")
    node.generated, node.generated_limit = str(tiny_corpus / "val.jsonl"), 12
    node.trees.min_samples_leaf = 20
    node.max_false_cut_in_real = REAL_CUT_IN_SHARE
    real = [
        dataclasses.replace(t, extra={**t.extra, "recording": f"rec{i % 2}"})
        for i, t in enumerate(read_corpus(tiny_corpus / "train.jsonl")[:REAL_TURNS])
    ]
    path, _ = calibrate(
        tiny_bundle,
        tmp_path_factory.mktemp("calibrated") / "turn",
        calibration_setup(node),
        real=real,
        real_dir=tiny_corpus,
        word_delays=[0.0, 0.3],
        tail_s=2.0,
    )
    return path


@pytest.mark.slow
def test_calibrated_bundle_scores_the_same_live_and_offline(calibrated: Path, tiny_corpus: Path) -> None:
    manifest = json.loads((calibrated / "manifest.json").read_text())
    assert manifest["metadata"]["calibration"]["real_recordings"] == ["rec0", "rec1"]
    threshold = manifest["config"]["policy"]["commit_threshold"]
    assert 0.0 < threshold < 1.0
    floor = OmegaConf.load(CONFIG_DIR / "calibration" / "default.yaml").min_silence_s
    assert manifest["config"]["policy"]["min_silence_s"] == floor  # the calibration's floor, not the bundle's
    probe = TurnPredictor.from_bundle(calibrated, embed=lambda t: None)
    assert probe.calibration is not None and probe.voice is not None
    predictor = TurnPredictor(
        probe.model, probe.spec, make_embedding_cache(tiny_corpus, probe.spec), calibration=probe.calibration
    )
    policies = [ResponsePolicy(**manifest["config"]["policy"]), SilencePolicy(0.7)]
    for turn in read_corpus(tiny_corpus / "test.jsonl")[:3]:
        audio = load_turn_audio(turn, 16000)
        live = replay(turn, audio, predictor, policies, tail_s=2.0, word_delay_s=0.2, streaming=True)
        fast = replay(turn, audio, predictor, policies, tail_s=2.0, word_delay_s=0.2, streaming=False)
        np.testing.assert_allclose(live.p_end, fast.p_end, atol=1e-5)
        assert live.outcomes == fast.outcomes
        assert live.p_end[-1] > live.p_end[0]  # two seconds after the turn it is surer than at its first word


@pytest.mark.slow
def test_the_threshold_also_bounds_cut_ins_on_the_real_turns(calibrated: Path, tiny_corpus: Path) -> None:
    manifest = json.loads((calibrated / "manifest.json").read_text())
    policy = manifest["config"]["policy"]
    real = read_corpus(tiny_corpus / "train.jsonl")[:REAL_TURNS]
    rows = calibration_rows(calibrated, real, tiny_corpus, [0.0, 0.3], 2.0)
    p_end = 1.0 / (1.0 + np.exp(-EndCalibration.from_dict(manifest["config"]["end_calibration"]).logit(rows.x)))
    bound = commit_threshold_for(p_end, rows, REAL_CUT_IN_SHARE, policy["min_silence_s"], policy["max_silence_s"])
    assert policy["commit_threshold"] >= bound - 1e-9


@pytest.mark.parametrize(
    "override,message",
    [
        ("calibration.max_false_cut_in=1.5", "max_false_cut_in"),
        ("calibration.max_false_cut_in_real=1.0", "max_false_cut_in_real"),
        ("calibration.trees.max_depth=0", "calibration.trees"),
        ("calibration.min_silence_s=-0.5", "calibration.min_silence_s"),
        ("bundle=/nonexistent/turn", "/nonexistent/turn"),
    ],
)
def test_bad_options_exit_with_the_fix(override: str, message: str, tiny_corpus: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "avatarlab.turn.calibrate",
            f"calibration.generated={tiny_corpus / 'val.jsonl'}",
            "calibration.generated_limit=2",
            f"out={tmp_path / 'out'}",
            override,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "out").exists()
