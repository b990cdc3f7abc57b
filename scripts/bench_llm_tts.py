"""Speed of the embedded language model and of the speech engines, as the live loop uses them.

    python scripts/bench_llm_tts.py [threads=1] [cold=1] [piper=1]

LLM (configs/serve/llm/smollm.yaml, persona configs/serve/persona/default.yaml): load time converting the
GGUF into a fresh cache (`cold=1`) and from the converted copy; first-piece latency (stream() -> first text
piece) over 5 short one-turn prompts and over the turns of a 5-turn conversation, with the previous prompt's
KV cache reused and without; decoding speed in tokens/s. TTS (configs/serve/tts/*.yaml): real-time factor
(synthesis time / audio duration) over the replies, and the time to the first phrase's audio when a reply
streams from the model into the phrase splitter (serve.yaml `phrases`) and each phrase is spoken as it is
complete: from stream() to the first phrase's audio, and the first phrase's synthesis alone. `threads` sets
torch's threads (serve.py's part).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from avatarlab.cli import checked, key_value_options  # noqa: E402
from avatarlab.config_args import config_args, from_config  # noqa: E402
from avatarlab.errors import UserInputError, exit_with  # noqa: E402
from avatarlab.runtime.llm_local import LocalLLM  # noqa: E402
from avatarlab.runtime.persona import Persona  # noqa: E402
from avatarlab.runtime.tts import PhraseSplitter, Synthesizer  # noqa: E402

LLM_CONFIG = "serve/llm/smollm.yaml"
DEFAULTS = {"threads": 1, "cold": 1, "piper": 1}
PROMPTS = [
    "Hi, how are you today?",
    "What is the capital of France?",
    "Can you recommend a good book?",
    "What's the weather usually like in spring?",
    "Tell me something interesting about the ocean.",
]
RATE = 16000


def load(cache_dir: str) -> tuple[LocalLLM, float]:
    t = time.perf_counter()
    llm = LocalLLM(**config_args(LLM_CONFIG, cache_dir=cache_dir))
    return llm, time.perf_counter() - t


def one_turn(llm: LocalLLM, persona: Persona, reuse: bool) -> tuple[list[float], list[float], list[str]]:
    """First-piece seconds, decoding tokens/s and replies of each prompt asked alone (after the system prompt)."""
    llm.reuse_prefix = reuse
    llm.reset()
    first, rates, replies = [], [], []
    for prompt in PROMPTS:
        generation = llm.stream(persona.messages([{"role": "user", "content": prompt}]))
        list(generation)
        if generation.first_piece_s is not None:
            first.append(generation.first_piece_s)
        if generation.pieces > 1:
            rates.append((generation.pieces - 1) / (generation.finished_at - generation.first_piece_at))
        replies.append(generation.text)
    return first, rates, replies


def conversation(llm: LocalLLM, persona: Persona, reuse: bool) -> tuple[list[float], list[int]]:
    """First-piece seconds and prompt lengths of each turn of one conversation (history growing)."""
    llm.reuse_prefix = reuse
    llm.reset()
    history: list[dict[str, str]] = [{"role": "assistant", "content": persona.greeting}]
    first, lengths = [], []
    for prompt in PROMPTS:
        history.append({"role": "user", "content": prompt})
        messages = persona.messages(history)
        lengths.append(len(llm.prompt_ids(messages)))
        generation = llm.stream(messages)
        list(generation)
        if generation.first_piece_s is not None:
            first.append(generation.first_piece_s)
        history.append({"role": "assistant", "content": generation.text})
    return first, lengths


def first_phrase(llm: LocalLLM, persona: Persona, tts: Synthesizer, splitter: PhraseSplitter) -> tuple[float, float]:
    """(stream() -> first phrase's audio ready, that phrase's synthesis alone) for the first prompt."""
    splitter.reset()
    generation = llm.stream(persona.messages([{"role": "user", "content": PROMPTS[0]}]))
    start = time.perf_counter()
    phrases: list[str] = []
    for piece in generation:
        phrases += splitter.push(piece)
        if phrases:
            generation.cancel()
            break
    phrases += [] if phrases else splitter.flush()
    t = time.perf_counter()
    tts.synthesize(phrases[0])
    done = time.perf_counter()
    return done - start, done - t


def rtf(tts: Synthesizer, texts: list[str]) -> tuple[float, float]:
    """(synthesis seconds / audio seconds, audio seconds) over `texts`."""
    tts.synthesize("Warm up.")
    spent = audio = 0.0
    for text in texts:
        t = time.perf_counter()
        u = tts.synthesize(text)
        spent += time.perf_counter() - t
        audio += len(u.audio) / RATE
    return spent / audio, audio


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (p90 {sorted(values)[int(0.9 * (len(values) - 1))] * 1000:.0f})"


def main() -> None:
    try:
        args = key_value_options(sys.argv[1:], DEFAULTS)
        threads = checked("threads", args["threads"], int, minimum=1)
    except UserInputError as error:
        exit_with(error)
    torch.set_num_threads(threads)
    persona: Persona = from_config("serve/persona/default.yaml")
    print(f"torch threads {threads}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as cache:
        if args["cold"]:
            _, cold_s = load(cache)
            print(f"LLM load, converting the GGUF (cold): {cold_s:.1f} s")
        llm, cached_s = load(cache if args["cold"] else config_args(LLM_CONFIG)["cache_dir"])
        print(f"LLM load from the converted copy:     {cached_s:.2f} s")
    llm.warmup()
    results: dict[str, Any] = {}
    for reuse in (True, False):
        first, rates, replies = one_turn(llm, persona, reuse)
        turns, lengths = conversation(llm, persona, reuse)
        results[reuse] = replies
        label = "prefix reused" if reuse else "full prompt  "
        print(
            f"LLM first piece, {label}: one-turn prompts {ms(first)}; 5-turn conversation {ms(turns)} "
            f"(per turn {[round(s * 1000) for s in turns]} ms, prompts {lengths} tokens); "
            f"decoding {statistics.median(rates):.1f} tokens/s"
        )
    llm.reuse_prefix = config_args(LLM_CONFIG)["reuse_prefix"]
    print(f"sample reply: {results[True][1]!r}")
    splitter: PhraseSplitter = from_config("serve.yaml", "phrases")
    engines = ["serve/tts/espeak.yaml"] + ["serve/tts/piper.yaml"] * bool(args["piper"])
    for config in engines:
        try:
            tts: Synthesizer = from_config(config)
        except ImportError as error:
            print(f"{config}: skipped ({error})")
            continue
        factor, seconds = rtf(tts, results[True])
        to_audio, synth = first_phrase(llm, persona, tts, splitter)
        print(
            f"TTS {tts.engine:<9}: real-time factor {factor:.3f} over {seconds:.1f} s of replies; first phrase "
            f"audio {to_audio * 1000:.0f} ms after stream() (its synthesis {synth * 1000:.0f} ms)"
        )


if __name__ == "__main__":
    main()
