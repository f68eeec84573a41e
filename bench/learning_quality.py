"""Learning the catalogue's own language, measured on the dev photos (`manage.py measure_learning`).

Flickr8k dev photos: DESCRIBED of them get one caption as their description (the rest none);
a head is trained from [sqrt(features), meaning] to the sentence embedding of that caption (the
product's `ml.ridge` / `ml.contrastive`, texts through the product's cache `ml.text_cache`), and
the undescribed photos are searched with the fixed queries of `bench.flickr_queries` (relevance
from their five hidden captions). Beside it: the zero-shot sentence space (ConSE over class
prototypes), blends of the two (the JointModel's `blend`), and the Pascal words on the ImageNet
dev photos (words no caption taught: no loss allowed). Then the time to train on 2,000 described
items, their texts embedded from a cold cache.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.flickr_queries import ONE_WORD, QUERIES, precision_at_10, relevant_flickr
from bench.word_dev_photos import LOCAL, DevPhotos, load_dev_photos
from bench.word_search_quality import mean_defined, pascal_r_precision
from ml.contrastive import fit_contrastive
from ml.familiarity import trained_share, word_counts
from ml.prototypes import class_prototypes, sentence_image_vectors
from ml.ridge import fit_ridge, project_linear
from ml.sentences import MODEL_ID, get_sentence_encoder
from ml.text_cache import TextEmbeddings
from ml.vectors import blend_rows

DESCRIBED = 1500
TIMED = 2000
VALIDATION = 0.15
BLENDS = (0.0, 0.25, 0.5, 0.75)
FAMILIARITY = ((10, 0), (30, 0), (10, 10), (10, 20), (10, 40))  # (half share at, minimum items); product: (10, 10)


Search = Callable[[np.ndarray, str], np.ndarray]  # (rows, query text) -> scores of those rows


def flickr_precision(search: Search, rows: np.ndarray, captions: list[list[str]]) -> dict:
    scores = {text: precision_at_10(search(rows, text), relevant_flickr(text, captions)) for text in QUERIES}
    one = [scores[text] for text in ONE_WORD]
    two = [value for text, value in scores.items() if text not in ONE_WORD]
    return {"p10": float(np.mean(list(scores.values()))), "one": float(np.mean(one)), "two": float(np.mean(two))}


def measure(photos: DevPhotos, *, described: int = DESCRIBED, seed: int = 0) -> list[dict]:
    encoder = get_sentence_encoder()
    queries: dict[str, np.ndarray] = {}

    def query(text: str) -> np.ndarray:
        if text not in queries:
            queries[text] = encoder.embed([text])[0]
        return queries[text]

    n = photos.n_imagenet
    flickr = np.arange(n, len(photos.features))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(flickr))
    taught, searched = flickr[order[:described]], flickr[order[described:]]
    hidden = [photos.captions[row - n] for row in searched]
    cache = TextEmbeddings(LOCAL / "text-embeddings", MODEL_ID, encoder.embed)
    targets = cache.embed([photos.captions[row - n][0] for row in taught])
    validation = rng.random(len(taught)) < VALIDATION
    features, meaning = photos.features, photos.meaning
    prototypes = class_prototypes(encoder.embed, MODEL_ID, LOCAL / "models")
    zero_shot = sentence_image_vectors(photos.probabilities, prototypes)
    heads = {
        "ridge": fit_ridge(features[taught], meaning[taught], targets, validation),
        "contrastive (InfoNCE)": fit_contrastive(features[taught], meaning[taught], targets, validation),
    }
    counts = word_counts(photos.captions[row - n][0] for row in taught)
    results = []

    def row(name: str, search: Search, seconds: float | None = None) -> None:
        scores = flickr_precision(search, searched, hidden)
        imagenet = np.arange(n)
        pascal = mean_defined(pascal_r_precision(lambda text: search(imagenet, text), photos))
        results.append({"bridge": name, **scores, "pascal": pascal, "seconds": seconds})

    def vector_search(vectors: np.ndarray) -> Search:
        return lambda rows, text: vectors[rows] @ query(text)

    def fused_search(vectors: np.ndarray, half: int, minimum: int) -> Search:
        def search(rows: np.ndarray, text: str) -> np.ndarray:
            share = trained_share(text, counts, half, minimum)
            return share * (vectors[rows] @ query(text)) + (1 - share) * (zero_shot[rows] @ query(text))

        return search

    row("zero-shot sentence space (ConSE, T=20)", vector_search(zero_shot))
    for name, head in heads.items():
        trained = project_linear(features, meaning, head.weights)
        label = f"{name}, alpha {head.alpha:g}" if name == "ridge" else name
        for share in BLENDS:
            row(f"{label}, blend {share:g}", vector_search(blend_rows(trained, zero_shot, share)), head.seconds)
        for half, minimum in FAMILIARITY:
            fused = fused_search(blend_rows(trained, zero_shot, 0.25), half, minimum)
            row(f"{label}, blend 0.25, fused by familiarity (half at {half}, from {minimum})", fused, head.seconds)
    return results


def training_seconds(photos: DevPhotos, count: int = TIMED, seed: int = 1) -> dict:
    """Train a ridge head on `count` described photos, their captions embedded from an empty cache."""
    encoder = get_sentence_encoder()
    encoder.embed(["warm up"])  # the model loads once per process, not once per training
    n = photos.n_imagenet
    rows = n + np.random.default_rng(seed).permutation(len(photos.features) - n)[:count]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        targets = TextEmbeddings(Path(folder), MODEL_ID, encoder.embed).embed(
            [photos.captions[row - n][0] for row in rows]
        )
        embedded = time.perf_counter() - started
        validation = np.random.default_rng(seed).random(count) < VALIDATION
        head = fit_ridge(photos.features[rows], photos.meaning[rows], targets, validation)
    return {"items": count, "embedding_s": embedded, "fit_s": head.seconds, "total_s": time.perf_counter() - started}


def main(described: int = DESCRIBED) -> tuple[list[dict], dict]:
    photos = load_dev_photos()
    return measure(photos, described=described), training_seconds(photos)


def markdown(rows: list[dict], timing: dict) -> str:
    """The table of docs/learning.md."""
    zero = rows[0]
    lines = [
        "| bridge (vectors of the undescribed photos) | P@10 | 1-word | 2-word | lift | Pascal R-prec |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lift = row["p10"] / zero["p10"]
        lines.append(
            f"| {row['bridge']} | {row['p10']:.3f} | {row['one']:.3f} | {row['two']:.3f} | {lift:.2f}x "
            f"| {row['pascal']:.3f} |"
        )
    lines.append(
        f"\nTraining on {timing['items']} described items: {timing['total_s']:.1f} s "
        f"({timing['embedding_s']:.1f} s embedding their texts from an empty cache, {timing['fit_s']:.1f} s fitting)."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    LOCAL.mkdir(exist_ok=True)
    print(markdown(*main()))
