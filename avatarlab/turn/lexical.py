"""Lexical cues: closed-class English word categories, for the last words and for late words."""

from __future__ import annotations

import numpy as np

# Word categories of general English (function words and discourse markers), not tied to any corpus.
CATEGORIES: dict[str, frozenset[str]] = {
    "filler": frozenset({"um", "uh", "er", "erm", "hmm", "mm", "like", "well"}),
    "conjunction": frozenset({"and", "or", "so", "because", "then", "also", "plus", "nor"}),
    "contrast": frozenset(
        {"but", "though", "although", "however", "yet", "except", "until", "instead", "unfortunately", "whereas"}
    ),
    "negation": frozenset(
        {
            "not",
            "no",
            "never",
            "nothing",
            "nobody",
            "don't",
            "doesn't",
            "didn't",
            "isn't",
            "wasn't",
            "can't",
            "won't",
            "haven't",
            "hasn't",
            "aren't",
            "couldn't",
            "wouldn't",
            "shouldn't",
            "nope",
        }
    ),
    "correction": frozenset(
        {"actually", "wait", "mean", "scratch", "forget", "cancel", "rather", "sorry", "oops", "correction", "mind"}
    ),
    "condition": frozenset({"if", "unless", "only", "provided", "assuming", "otherwise", "whether"}),
    "joke": frozenset({"kidding", "joking", "joke", "jokes", "lying", "jk", "kid"}),
    "politeness": frozenset({"please", "thanks", "thank", "cheers", "appreciate"}),
    "preposition": frozenset(
        {
            "to",
            "of",
            "in",
            "on",
            "at",
            "for",
            "with",
            "from",
            "by",
            "about",
            "into",
            "over",
            "after",
            "before",
            "than",
            "like",
            "through",
            "near",
        }
    ),
    "determiner": frozenset(
        {
            "the",
            "a",
            "an",
            "my",
            "your",
            "our",
            "their",
            "his",
            "her",
            "its",
            "this",
            "that",
            "these",
            "those",
            "some",
            "any",
            "every",
            "each",
        }
    ),
    "subject": frozenset(
        {"i", "you", "we", "they", "he", "she", "it", "i'm", "we're", "they're", "you're", "it's", "there"}
    ),
    "auxiliary": frozenset(
        {
            "is",
            "are",
            "was",
            "were",
            "be",
            "am",
            "do",
            "does",
            "did",
            "have",
            "has",
            "had",
            "can",
            "could",
            "will",
            "would",
            "should",
            "may",
            "might",
            "must",
            "shall",
            "i'll",
            "i'd",
            "we'll",
            "you'll",
        }
    ),
    "wh": frozenset({"what", "who", "when", "where", "why", "how", "which", "whose", "whom"}),
    "tag": frozenset({"know", "guess", "think", "anyway", "right", "okay", "though", "honestly", "really"}),
}
NAMES = tuple(CATEGORIES)
N_CATEGORIES = len(NAMES)
# Categories counted among the words heard after a draft's prefix (signals that the meaning may turn).
LATE_CUES = ("contrast", "negation", "correction", "condition", "joke", "politeness", "tag", "filler", "conjunction")
N_LATE = len(LATE_CUES)


def categories(word: str) -> np.ndarray:
    """[N_CATEGORIES] 0/1: which categories a (normalised) word belongs to."""
    return np.array([word in CATEGORIES[name] for name in NAMES], dtype=np.float32)


def late_cues(word: str) -> np.ndarray:
    """[N_LATE] 0/1 for one word."""
    return np.array([word in CATEGORIES[name] for name in LATE_CUES], dtype=np.float32)


def cumulative_late_cues(tokens: list[str]) -> np.ndarray:
    """[len(tokens) + 1, N_LATE]: row k counts the late cues among the first k tokens."""
    rows = np.zeros((len(tokens) + 1, N_LATE), np.float32)
    for i, token in enumerate(tokens):
        rows[i + 1] = rows[i] + late_cues(token)
    return rows


def syllables(word: str) -> int:
    """A rough syllable count (vowel groups), at least 1."""
    count, previous = 0, False
    for ch in word:
        vowel = ch in "aeiouy"
        count += vowel and not previous
        previous = vowel
    if word.endswith("e") and count > 1 and not word.endswith(("le", "ee")):
        count -= 1
    return max(1, count)
