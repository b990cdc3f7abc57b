"""On real speech (../shared/data), p_end is higher at the real sentence ends than mid-sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatarlab.config_args import config_args
from avatarlab.runtime.response_policy import ResponsePolicy
from avatarlab.runtime.turn_predictor import TurnPredictor
from avatarlab.turn.features import arrival_step
from avatarlab.turn.format import read_corpus
from avatarlab.turn.metrics import roc_auc
from avatarlab.turn.replay import replay
from avatarlab.turn.tables import load_turn_audio
from avatarlab.turn.transcribe import transcribe
from tests.helpers.configs import transcribe_options


@pytest.mark.slow
@pytest.mark.shared_data
def test_p_end_peaks_at_real_sentence_ends(shared_data: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    recording = shared_data / "speech_english_60s.wav"
    if not recording.is_file():
        pytest.skip(f"{recording} is missing")
    turn = transcribe([str(recording)], tmp_path / "real.jsonl", **transcribe_options())[0]
    turn = read_corpus(tmp_path / "real.jsonl")[0]
    assert len(turn.words) > 80
    trace = replay(
        turn,
        load_turn_audio(turn, 16000),
        TurnPredictor.from_bundle(tiny_bundle),
        [ResponsePolicy(**config_args("model/turn.yaml", "policy"))],
        tail_s=1.0,
    )
    step_of = {int(round(t * 100)): i for i, t in enumerate(trace.t)}
    scores, ends = [], []
    for i, (w, nxt) in enumerate(zip(turn.words, turn.words[1:])):
        lo, hi = arrival_step(w.end), max(arrival_step(w.end) + 1, arrival_step(nxt.start))
        ticks = [step_of[s] for s in range(lo, min(hi, lo + 100)) if s in step_of and trace.words[step_of[s]] == i + 1]
        if ticks:
            scores.append(float(trace.p_end[ticks].max()))  # the highest p_end while word i is the newest
            ends.append(w.word.rstrip()[-1:] in ".?!")  # Whisper's punctuation marks the sentence ends
    scores, ends = np.array(scores), np.array(ends)
    print(
        f"sentence ends: {ends.sum()}, mean p_end {scores[ends].mean():.2f}; mid-sentence: {(~ends).sum()},"
        f" mean {scores[~ends].mean():.2f}; AUC {roc_auc(scores, ends):.2f}"
    )
    assert ends.sum() >= 3 and (~ends).sum() >= 30
    assert scores[ends].mean() > scores[~ends].mean() + 0.2
    assert np.median(scores[ends]) > np.median(scores[~ends])
    assert roc_auc(scores, ends) > 0.75
