"""Does a language model tell a pause inside a turn from the turn's end? On generated and on real speech.

    python experiments/turn/lm_pauses.py [--generated N]

For every word of every turn: the bundled SmolLM2's probability that the user's message ends after it
(`<|im_end|>` next, the words so far as the user's message, lower case, no punctuation). Positives are each
turn's last word; negatives are the words followed by a pause of at least 0.2 / 0.4 s (by the recognizer's word
times) inside the turn. An AUC above 0.5 means the model ranks the real ends above the pauses.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from avatarlab.runtime.llm_local import bundled_gguf, converted_model
from avatarlab.turn.metrics import roc_auc

ROOT = Path(__file__).resolve().parents[2]
CORPORA = {
    "generated (held-out families)": ROOT / "datasets/turn_corpus/test.jsonl",
    "real meetings": ROOT / "datasets/turn_real/conversations.jsonl",
    "real monologues": ROOT / "datasets/turn_real/monologues.jsonl",
}
PAUSES_S = (0.2, 0.4)
PROMPT = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"


def plain(word: str) -> str:
    return re.sub(r"[^\w']", "", word).lower()


@torch.inference_mode()
def end_log_probabilities(model, tokenizer, words: list[str]) -> np.ndarray:
    """[words] log P(<|im_end|> next) after each word, from one forward pass over the whole turn."""
    text = " ".join(plain(w) for w in words)
    encoded = tokenizer(PROMPT + text, add_special_tokens=False, return_offsets_mapping=True)
    ids = torch.tensor([encoded["input_ids"]])
    log_p = torch.log_softmax(model(ids).logits[0], dim=-1)[:, tokenizer.convert_tokens_to_ids("<|im_end|>")]
    ends, position = [], len(PROMPT)
    for word in words:  # the last token that ends within each word
        position += len(plain(word))
        ends.append(max(i for i, (_, stop) in enumerate(encoded["offset_mapping"]) if stop <= position))
        position += 1
    return log_p[ends].numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=300, help="generated turns to read (the first N)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder, _ = converted_model(bundled_gguf(), Path("~/.cache/avatarlab/llm").expanduser())
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    print("| turns | words | " + " | ".join(f"AUC, pauses >= {p} s (n)" for p in PAUSES_S) + " |")
    print("|---|---|" + "---|" * len(PAUSES_S))
    for name, path in CORPORA.items():
        if not path.is_file():
            print(f"| {name}: no {path.relative_to(ROOT)} (make demo; python -m avatarlab.turn.real) | | |")
            continue
        turns = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        turns = turns[: args.generated] if name.startswith("generated") else turns
        score, last, gap = [], [], []
        for turn in turns:
            words = [w for w in turn["words"] if plain(w["word"])]
            score.append(end_log_probabilities(model, tokenizer, [w["word"] for w in words]))
            last.append(np.arange(len(words)) == len(words) - 1)
            gap.append(np.r_[[b["start"] - a["end"] for a, b in zip(words, words[1:])], np.inf])
        score, last, gap = (np.concatenate(a) for a in (score, last, gap))
        cells = []
        for pause in PAUSES_S:
            keep = last | (gap >= pause)
            cells.append(f"{roc_auc(score[keep], last[keep]):.2f} ({int((~last[keep]).sum())})")
        print(f"| {name}: {len(turns)} | {len(score)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
