"""Query-side ranking in the sentence space, over a candidate set of image vectors.

Two measured helps for zero-shot word search (bench.measure_words, Flickr8k dev queries):
- every word must count: a phrase's score adds the score of its worst-matched word, so "dog
  snow" prefers a dog in snow over a dog on grass or a snowy street;
- visual feedback: the photos the words rank first are looked like (their mean visual vector),
  which finds photos of the same scene that the classifier's 1000 classes describe poorly.
Scores are z-scored over the candidates before they are added, so their scales do not matter;
the caller passes a candidate pool (the whole catalogue, or its top few hundred by vector).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Measured on the dev photos (bench.measure_words, ConSE T=20): Flickr P@10 0.300 alone, 0.322
# with feedback from 5 photos at 0.25 (two-word 0.19 -> 0.21), 0.315 at 0.5, 0.329 from 10 at
# 0.5; Pascal R-precision 0.922 at 0.25 but 0.82-0.83 at 0.5 (the look pulls in lookalikes of
# other kinds). The worst word alone changes little (one point on two-word queries).
WORST_WORD_SHARE = 0.5
FEEDBACK_PHOTOS = 5
FEEDBACK_WEIGHT = 0.25


def standardised(scores: np.ndarray) -> np.ndarray:
    """(scores - mean) / std over the candidates; all zero when they are all equal."""
    scores = np.asarray(scores, dtype=np.float64)
    spread = float(scores.std())
    return (scores - scores.mean()) / spread if spread > 0 else np.zeros_like(scores)


def phrase_scores(
    image_vectors: np.ndarray,
    phrase_vector: np.ndarray,
    word_vectors: Sequence[np.ndarray] = (),
    worst_word_share: float = WORST_WORD_SHARE,
) -> np.ndarray:
    """Standardised cosine to the whole phrase, plus `worst_word_share` x each candidate's lowest
    standardised cosine to one of the phrase's words (`word_vectors`; none or one: the phrase alone)."""
    scores = standardised(image_vectors @ phrase_vector)
    if len(word_vectors) > 1:
        per_word = np.stack([standardised(image_vectors @ vector) for vector in word_vectors])
        scores = scores + worst_word_share * per_word.min(axis=0)
    return scores


def visual_feedback(
    scores: np.ndarray, visual_vectors: np.ndarray, photos: int = FEEDBACK_PHOTOS, weight: float = FEEDBACK_WEIGHT
) -> np.ndarray:
    """`scores` (standardised) plus `weight` x the standardised cosine of each candidate's visual
    vector (`ml.meaning.visual_vectors`) to the mean of the top `photos` candidates' ones."""
    top = np.argsort(-np.asarray(scores), kind="stable")[:photos]
    centre = visual_vectors[top].mean(axis=0)
    norm = float(np.linalg.norm(centre))
    if norm == 0:
        return standardised(scores)
    return standardised(scores) + weight * standardised(visual_vectors @ (centre / norm))
