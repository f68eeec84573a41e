"""Words -> images on the catalogue's own text, honestly: the query words are the words the
items' descriptions and titles use, and an item is relevant for a word when its own text uses
it; only items whose text was hidden from training (held out) are ranked. Each space is scored as
word search ranks it: a space trained on texts fused with its zero-shot partner by familiarity.
The report also shows, per query word, what each space finds among the undescribed items.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ml.familiarity import minimum_items, text_words, trained_share
from ml.metrics import precision_at, r_precision
from ml.vectors import unit_rows
from search import query_vectors
from spaces import selectors
from spaces.models import EmbeddingSpace

QUERY_WORDS = 30
MIN_RELEVANT = 2  # held-out items that use a word, for it to be a query
TOP_K = 10
EXAMPLES = 6


def space_scores(space: EmbeddingSpace, text: str, vectors: dict[int, np.ndarray]) -> np.ndarray | None:
    """Each item's score for a word query in `space`, as word search computes it."""
    query = query_vectors.word_query(text, space.word_space).vector
    if query is None:
        return None
    scores = unit_rows(vectors[space.pk]) @ query
    partner = selectors.zero_shot_partner(space)
    if partner is None or partner.space.pk not in vectors:
        return scores
    share = trained_share(text, partner.word_counts, minimum=minimum_items(partner.trained_items))
    return share * scores + (1 - share) * (unit_rows(vectors[partner.space.pk]) @ query)


def query_words(texts: list[str], limit: int = QUERY_WORDS) -> list[str]:
    """The words most held-out texts use (of three letters or more, not in most of them)."""
    counts = Counter(word for text in texts if text for word in text_words(text) if len(word) >= 3)
    most = len([text for text in texts if text]) // 2
    return [word for word, count in counts.most_common() if MIN_RELEVANT <= count <= max(most, MIN_RELEVANT)][:limit]


def text_metrics(texts: list[str], vectors: dict[int, np.ndarray], joint: list[EmbeddingSpace]) -> dict:
    """Per query word: its relevant items and each space's P@10 and R-precision among the
    described items; per space, their means."""
    described = np.array([bool(text) for text in texts])
    rows = np.flatnonzero(described)
    words = query_words(texts)
    folded = [text_words(texts[row]) for row in rows]
    per_word: dict[str, dict] = {}
    for word in words:
        relevant = np.array([word in found for found in folded])
        per_word[word] = {"relevant": int(relevant.sum()), "spaces": {}}
        for space in joint:
            scores = space_scores(space, word, vectors)
            if scores is not None:
                per_word[word]["spaces"][space.name] = {
                    "p10": round(precision_at(scores[rows], relevant, TOP_K), 4),
                    "r_precision": round(r_precision(scores[rows], relevant) or 0.0, 4),
                }
    means = {}
    for space in joint:
        cells = [entry["spaces"][space.name] for entry in per_word.values() if space.name in entry["spaces"]]
        means[space.name] = {
            "words": len(cells),
            "p10": round(float(np.mean([c["p10"] for c in cells])), 4) if cells else None,
            "r_precision": round(float(np.mean([c["r_precision"] for c in cells])), 4) if cells else None,
        }
    return {"described": int(described.sum()), "words": per_word, "means": means}


def undescribed_hits(
    texts: list[str], vectors: dict[int, np.ndarray], joint: list[EmbeddingSpace], words: list[str]
) -> list[tuple[str, list[list[int]]]]:
    """Per word, each space's top rows among the items without any text."""
    rows = np.flatnonzero(np.array([not text for text in texts], dtype=bool))
    found = []
    for word in words:
        cells = []
        for space in joint:
            scores = space_scores(space, word, vectors)
            order = [] if scores is None or not len(rows) else np.argsort(-scores[rows], kind="stable")[:EXAMPLES]
            cells.append([int(rows[i]) for i in order])
        found.append((word, cells))
    return found
