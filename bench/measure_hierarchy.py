"""Measurements behind the hierarchy parameters, on the 500 development photos.

    python -m bench.measure_hierarchy [DATASET_DIR] [CACHE.npz]

DATASET_DIR defaults to $DEV_DATASET, else shared/datasets/imagenet-sample-dev beside the
repository or in /work; the encoder's outputs are cached in CACHE (default .local/dev_encodings.npz)
so that reruns take seconds. The measurements themselves are in bench.word_search_quality and
bench.similarity_quality, which tests/test_hierarchy.py uses too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bench.dev_photos import ENCODINGS_CACHE, DevSet, default_dataset, load_dev_set
from bench.similarity_quality import blend_vectors, copies_found, precision_at_10, visual_vectors
from bench.word_search_quality import (
    WordSearch,
    hypernym_r_precision,
    label_search,
    mean_defined,
    pascal_r_precision,
    tag_hits,
    word_search,
)
from ml.conse import class_word_matrix, conse_vectors, softmax
from ml.meaning import meaning_vectors
from ml.words import WordVectors


def _print_word_search(search: WordSearch, dev: DevSet, words: WordVectors, label: str) -> None:
    wordnet, pascal = pascal_r_precision(search, dev), pascal_r_precision(search, dev, by="pascal")
    labels = label_search(search, dev)
    print(
        f"{label} | {mean_defined(wordnet):.3f} {mean_defined(pascal):.3f} | "
        f"{hypernym_r_precision(search, dev, words):.3f} | {labels[0]:.3f} {labels[1]:.3f}"
    )


def main(dataset: Path, cache: Path) -> None:
    from ml.words import load_glove_6b_50d

    dev = load_dev_set(dataset, cache)
    words = load_glove_6b_50d()
    print("Word search over ConSE vectors (top 10 classes), GloVe 6B 50d, 400k words")
    print("share decay | Pascal R-prec (WordNet, category) | hypernyms R-prec | label in top 10 (all, known)")
    for share, decay in [(0.0, 0.5), (0.4, 0.5), (0.45, 0.3), (0.45, 0.5), (0.45, 0.7), (0.5, 0.5), (0.55, 0.3)]:
        matrix = class_word_matrix(words.lookup, words.dims, ancestor_share=share, ancestor_decay=decay)
        search = word_search(conse_vectors(softmax(dev.logits), matrix), words.lookup)
        _print_word_search(search, dev, words, f"{share:5.2f} {decay:5.2f}")
    joint = conse_vectors(softmax(dev.logits), class_word_matrix(words.lookup, words.dims))
    meaning = meaning_vectors(softmax(dev.logits))
    print("With the meaning space for words that name WordNet synsets (shipped 0.45/0.5), by its share:")
    for weight in (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        search = word_search(joint, words.lookup, meaning, weight)
        _print_word_search(search, dev, words, f"   w={weight:.1f}  ")
    shipped = pascal_r_precision(word_search(joint, words.lookup, meaning), dev)
    print("Pascal words as shipped:", {k: None if v is None else round(v, 2) for k, v in shipped.items()})
    tags = tag_hits(dev)
    print(f"Tags: label or basic-level name in the first 5 {tags[0]:.3f}; the label itself {tags[1]:.3f}")
    probabilities = softmax(dev.logits)
    copy_probabilities = softmax(dev.copy_logits)
    unit = lambda rows: rows / np.linalg.norm(rows, axis=1, keepdims=True)  # noqa: E731
    modes = {
        "visual, raw cosine": (unit(dev.features), unit(dev.copy_features)),
        "visual, sqrt + row-centred": (visual_vectors(dev.features), visual_vectors(dev.copy_features)),
        "meaning (sqrt WordNet mass)": (meaning_vectors(probabilities), meaning_vectors(copy_probabilities)),
    }
    for weight in np.linspace(0.0, 1.0, 11):
        modes[f"blend w={weight:.1f}"] = (
            blend_vectors(dev.features, probabilities, weight),
            blend_vectors(dev.copy_features, copy_probabilities, weight),
        )
    print(f"More like this: precision@10 within Pascal categories; copies found (of {len(dev.copy_rows)})")
    for name, (vectors, copies) in modes.items():
        print(f"  {name:28s} {precision_at_10(vectors, dev):.3f}  {copies_found(vectors, copies, dev)}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main(
        Path(arguments[0]) if arguments else default_dataset(),
        Path(arguments[1]) if len(arguments) > 1 else ENCODINGS_CACHE,
    )
