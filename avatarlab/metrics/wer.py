"""Word error rate: word-level edit distance over the reference's length, on normalised words."""

from __future__ import annotations

from collections.abc import Sequence

from avatarlab.turn.format import normalize_word


def words_of(text: str | Sequence[str]) -> list[str]:
    """Lower-case words without punctuation, from a string or a list of words (empty words dropped)."""
    parts = text.split() if isinstance(text, str) else list(text)
    return [n for n in (normalize_word(p) for p in parts) if n]


def word_error_rate(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> float:
    """(substitutions + deletions + insertions) / reference words; 0 for two empty texts."""
    ref, hyp = words_of(reference), words_of(hypothesis)
    if not ref:
        return float(bool(hyp))
    row = list(range(len(hyp) + 1))  # distances from ref[:0] to every prefix of hyp
    for i, r in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1] / len(ref)
