"""Each input of the end calibration alone, as an end-of-turn score on the real conversations' ticks.

    python experiments/turn/single_inputs.py

Scores every heard tick of the real conversations (`datasets/turn_real/conversations.jsonl`, words known 0, 0.2 and
0.4 s after they end) and prints the pooled end-of-turn AUC of single inputs (a quiet or speech-like input counts
towards "over" when it is low: its AUC is printed for its negative), beside the leave-one-out calibrated p_end of
`python -m avatarlab.turn.loro`'s fold bundles (outputs/turn_loro/folds/RECORDING/bundle).
"""

from __future__ import annotations

import json

import numpy as np
from quick_commit import ROOT, scored

from avatarlab.turn.end_calibration import CALIBRATION_INPUTS, EndCalibration
from avatarlab.turn.metrics import roc_auc

REAL = ROOT / "datasets/turn_real/conversations.jsonl"
FOLDS = ROOT / "outputs/turn_loro/folds"
HIGHER_AT_ENDS = ("silence", "pause", "voice_silence")
LOWER_AT_ENDS = ("db_now", "voice_320ms")
DELAYS = (0.0, 0.2, 0.4)


def main() -> None:
    turns = [json.loads(line) for line in REAL.read_text().splitlines() if line.strip()]
    recording = np.array([t.get("recording") or t["family"] for t in turns])
    ticks = scored(REAL, None)
    turn_of_tick = ticks["hearing"] // len(DELAYS)  # hearings go turn by turn, one per delay
    held_out = np.zeros(len(turn_of_tick))
    for name in np.unique(recording):
        manifest = json.loads((FOLDS / name / "bundle" / "manifest.json").read_text())
        at = recording[turn_of_tick] == name
        held_out[at] = EndCalibration.from_dict(manifest["config"]["end_calibration"]).probability(ticks["x"][at])
    scores = {name: ticks["x"][:, CALIBRATION_INPUTS.index(name)] for name in HIGHER_AT_ENDS}
    scores |= {f"-{name}": -ticks["x"][:, CALIBRATION_INPUTS.index(name)] for name in LOWER_AT_ENDS}
    scores["p_end, left out"] = held_out
    print("| score | " + " | ".join(f"words {d} s late" for d in DELAYS) + " |")
    print("|---|" + "---|" * len(DELAYS))
    for name, score in scores.items():
        aucs = [roc_auc(score[ticks["delay"] == d], ticks["done"][ticks["delay"] == d]) for d in DELAYS]
        print(f"| {name} | " + " | ".join(f"{a:.3f}" for a in aucs) + " |")


if __name__ == "__main__":
    main()
