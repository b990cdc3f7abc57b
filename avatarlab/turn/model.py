"""The turn model: two small heads over prefix embeddings, prosody and lexical cues.

p_end:    the user has no more words for this turn (current prefix, word and tick features).
p_stable: a reply to the reference prefix (the live draft's prefix, or the current prefix when there
          is no draft) still fits the whole turn, given everything heard so far.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from avatarlab.turn.features import CONT_DIM, PAIR_DIM, TICK_DIM, WORD_DIM


@dataclass(kw_only=True)
class TurnModelConfig:
    """The turn model's sizes: the input widths follow from the features; the rest is configs/model/turn.yaml's
    `net` node."""

    emb_dim: int = 384  # the sentence embedder's width
    word_dim: int = WORD_DIM
    tick_dim: int = TICK_DIM
    pair_dim: int = PAIR_DIM
    cont_dim: int = CONT_DIM
    emb_proj: int
    cont_proj: int
    hidden: int
    dropout: float
    emb_dropout: float  # training only: share of samples whose prefix embeddings are hidden (stability head)
    end_emb_dropout: float  # the same for the end head
    end_embedding: bool  # False: the end head reads prosody and lexical cues only
    end_evidence_bound: float  # > 0: p_end's logit is a function of the tick features (silence, pause,
    # voice activity) plus the word evidence (prosody, lexical cues) bounded to +-this, so that words unlike
    # any in training cannot hold p_end down through a long silence; 0: one head over everything

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> TurnModelConfig:
        """The config a checkpoint or bundle stored; one made before the bounded word evidence existed has
        one end head (bound 0), which is what it was trained as."""
        return cls(**{"end_evidence_bound": 0.0, **stored})


def _mlp(d_in: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_in, hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, 1),
    )


class TurnModel(nn.Module):
    """(cur_emb, ref_emb, word, tick, pair, cont) -> (end_logit, stable_logit), each [B]."""

    def __init__(self, config: TurnModelConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.proj = nn.Sequential(nn.Linear(c.emb_dim, c.emb_proj), nn.LayerNorm(c.emb_proj))
        self.end_head = _mlp((c.emb_proj if c.end_embedding else 0) + c.word_dim + c.tick_dim, c.hidden, c.dropout)
        self.end_tick = _mlp(c.tick_dim, c.hidden // 2, c.dropout) if c.end_evidence_bound > 0 else None
        self.cont = nn.Sequential(nn.Linear(c.cont_dim, c.cont_proj), nn.LayerNorm(c.cont_proj))
        self.stable_head = _mlp(3 * c.emb_proj + c.cont_proj + c.word_dim + c.pair_dim, c.hidden, c.dropout)

    def _hide(self, p: float, *embs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """In training, zero the embeddings of a share p of the samples, so the heads also learn to read
        prosody and lexical cues rather than memorising sentences."""
        if not self.training or p <= 0:
            return embs
        keep = (torch.rand(embs[0].shape[0], 1, device=embs[0].device) >= p).to(embs[0].dtype)  # [B, 1]
        return tuple(e * keep for e in embs)

    def end_parts(
        self, cur_emb: torch.Tensor, word: torch.Tensor, tick: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[B] the silence part of the end logit (zeros with one head) and [B] the word evidence (unbounded)."""
        if not self.config.end_embedding:
            evidence = self.end_head(torch.cat([word, tick], dim=-1)).squeeze(-1)
        else:
            (cur_emb,) = self._hide(self.config.end_emb_dropout, cur_emb)
            evidence = self.end_head(torch.cat([self.proj(cur_emb), word, tick], dim=-1)).squeeze(-1)
        if self.end_tick is None:
            return torch.zeros_like(evidence), evidence
        return self.end_tick(tick).squeeze(-1), evidence

    def end_logit(self, cur_emb: torch.Tensor, word: torch.Tensor, tick: torch.Tensor) -> torch.Tensor:
        """[B] from the current prefix only (no reference, no pair features)."""
        silence, evidence = self.end_parts(cur_emb, word, tick)
        bound = self.config.end_evidence_bound
        return evidence if self.end_tick is None else silence + bound * torch.tanh(evidence / bound)

    def stable_logit(
        self, cur_emb: torch.Tensor, ref_emb: torch.Tensor, word: torch.Tensor, pair: torch.Tensor, cont: torch.Tensor
    ) -> torch.Tensor:
        """[B] for the reference prefix given the current one and the words between (no tick features)."""
        cur_emb, ref_emb = self._hide(self.config.emb_dropout, cur_emb, ref_emb)
        cur = self.proj(cur_emb)  # [B, P]
        ref = self.proj(ref_emb)  # [B, P]
        return self.stable_head(torch.cat([cur, ref, cur - ref, self.cont(cont), word, pair], dim=-1)).squeeze(-1)

    def forward(
        self,
        cur_emb: torch.Tensor,
        ref_emb: torch.Tensor,
        word: torch.Tensor,
        tick: torch.Tensor,
        pair: torch.Tensor,
        cont: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.end_logit(cur_emb, word, tick), self.stable_logit(cur_emb, ref_emb, word, pair, cont)
