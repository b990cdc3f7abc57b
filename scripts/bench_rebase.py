"""How often a draft the turn policy drops can still play: the embedded model's reply to a turn's first words
against its reply to the whole turn.

    python scripts/bench_rebase.py [threads=1] [min_words=3]

For every user turn of the sample conversations (configs/serve/scripts/*.yaml, `say` turns, each asked alone after
the persona's system prompt) and every prefix of at least `min_words` words short of the whole turn: the draft's
first phrase (greedy, cut as serve.yaml's `phrases` cuts it), then `LocalLLM.rebase` onto the whole turn. Prints the
share of drafts rebased (the whole turn's reply begins with every token the draft wrote; also of the drafts
missing at most 3 words, as a draft at a commit usually is), the rebase's time, and
the time a fresh reply to the whole turn takes to its first phrase, from the draft's cache (as without rebasing) and
after the attempt (as when it fails: its forward pass leaves the whole turn's prompt in the cache).
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import yaml  # noqa: E402

from avatarlab.cli import checked, config_dir, key_value_options  # noqa: E402
from avatarlab.config_args import from_config  # noqa: E402
from avatarlab.errors import UserInputError, exit_with  # noqa: E402
from avatarlab.runtime.llm_local import LocalLLM  # noqa: E402
from avatarlab.runtime.tts import PhraseSplitter  # noqa: E402

DEFAULTS = {"threads": 1, "min_words": 3}
LATE_WORDS = 3
PAUSE = re.compile(r"\[pause [0-9.]+\]")


def user_turns() -> list[str]:
    """The `say` text of every sample conversation's turns, pause marks removed."""
    texts = []
    for path in sorted((Path(config_dir()) / "serve" / "scripts").glob("*.yaml")):
        for turn in yaml.safe_load(path.read_text())["turns"]:
            if turn.get("say") and turn.get("kind") in ("turn", "pause", "pivot"):
                texts.append(" ".join(PAUSE.sub(" ", turn["say"]).split()))
    return texts


def first_phrase(llm: LocalLLM, splitter: PhraseSplitter, messages: list[dict[str, str]]) -> tuple[Any, Any, float]:
    """A reply paused after its first phrase (as a draft parks), its piece iterator and the seconds it took."""
    splitter.reset()
    started = time.perf_counter()
    generation = llm.stream(messages)
    pieces = iter(generation)
    for piece in pieces:
        if splitter.push(piece):
            break
    return generation, pieces, time.perf_counter() - started


def run(args: dict[str, Any]) -> None:
    torch.set_num_threads(int(args["threads"]))
    llm = from_config("serve/llm/smollm.yaml")
    persona = from_config("serve/persona/default.yaml")
    splitter = from_config("serve.yaml", "phrases")
    llm.warmup()
    rebased, rebase_s, fresh_s, direct_s, missing = [], [], [], [], []
    for text in user_turns():
        words = text.split()
        whole = persona.messages([{"role": "user", "content": text}])
        for k in range(int(args["min_words"]), len(words)):
            prefix = persona.messages([{"role": "user", "content": " ".join(words[:k])}])
            draft, paused, _ = first_phrase(llm, splitter, prefix)
            fresh, _, took = first_phrase(llm, splitter, whole)  # no rebase tried: from the draft's cache
            fresh.cancel()
            direct_s.append(took)
            draft, paused, _ = first_phrase(llm, splitter, prefix)  # kept: a closed generator is no draft
            started = time.perf_counter()
            kept = llm.rebase(draft, whole)
            rebase_s.append(time.perf_counter() - started)
            draft.cancel()
            del paused
            rebased.append(kept)
            missing.append(len(words) - k)
            fresh, _, took = first_phrase(llm, splitter, whole)  # after the attempt: its cache holds the prompt
            fresh.cancel()
            fresh_s.append(took)
            fresh_s.append(took)
        print(f"{sum(rebased[-(len(words) - int(args['min_words'])):])} of {len(words) - int(args['min_words'])} "
              f"drafts of {text[:60]!r}", flush=True)  # fmt: skip
    share = 100 * sum(rebased) / len(rebased)
    print(f"drafts rebased onto the whole turn: {sum(rebased)} of {len(rebased)} ({share:.0f}%)")
    late = [kept for kept, m in zip(rebased, missing, strict=True) if m <= LATE_WORDS]
    print(f"... of the drafts short of at most {LATE_WORDS} words (as at a commit): {sum(late)} of {len(late)}")
    print(f"rebase: median {1000 * statistics.median(rebase_s):.0f} ms; a fresh reply's first phrase: median "
          f"{1000 * statistics.median(direct_s):.0f} ms from the draft's cache, {1000 * statistics.median(fresh_s):.0f}"
          f" ms after a rebase tried ({args['threads']} thread(s))")  # fmt: skip


def main() -> None:
    try:
        args = key_value_options(sys.argv[1:], DEFAULTS)
        args["threads"] = checked("threads", args["threads"], int, minimum=1)
        args["min_words"] = checked("min_words", args["min_words"], int, minimum=1)
    except UserInputError as error:
        exit_with(error)
    run(args)


if __name__ == "__main__":
    main()
