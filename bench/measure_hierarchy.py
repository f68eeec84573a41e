"""Measurements behind the hierarchy parameters, on the 500 development photos.

    python -m bench.measure_hierarchy [DATASET_DIR] [CACHE.npz]

DATASET_DIR defaults to $DEV_DATASET, else ../shared/datasets/imagenet-sample-dev beside the
repository; the encoder's outputs are cached in CACHE (default .local/dev_encodings.npz) so that
reruns take seconds. The functions are also used by tests/test_hierarchy.py.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageOps

from ml.conse import class_word_matrix, conse_vectors, softmax
from ml.hierarchy import load_hierarchy
from ml.imagenet import CLASS_NAMES, class_words, split_words
from ml.meaning import image_tags, meaning_vectors, named_meaning
from ml.metrics import neighbour_precision, r_precision
from ml.vectors import unit_rows
from ml.words import WordVectors

# Word search: the meaning space's share against the word space when some query words name WordNet
# synsets (`ml.meaning.named_meaning`; the product reads WORD_MEANING_WEIGHT from its settings).
# Development photos, 20 Pascal words (R-precision, WordNet relevance):
# 0 -> 0.61, 0.3 -> 0.74, 0.5 -> 0.79, 0.6 -> 0.87, 0.7 -> 0.89, 0.8 -> 0.86, 1 -> 0.84; a photo
# found by its own label in the top 10: 0.948 (0), 0.964 (0.7), 0.936 (1). GloVe alone knows no
# ram is a sheep; WordNet alone cannot rank what it does not name, nor tell a rich label from a
# poor one. 0.7 is the top of both curves.
WORD_MEANING_WEIGHT = 0.7


REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_DATASET = REPOSITORY.parent / "shared/datasets/imagenet-sample-dev"
Lookup = Callable[[list[str]], dict[str, np.ndarray]]
WordSearch = Callable[[str], "np.ndarray | None"]  # query text -> a score per dev photo, or None


class Encoder(Protocol):
    def encode(self, images: Sequence[Image.Image]) -> Any: ...  # features (n, d), logits (n, 1000)


@dataclass(frozen=True)
class DevSet:
    classes: np.ndarray  # (n,) ImageNet class index of each photo
    pascal: np.ndarray  # (n,) Pascal VOC category or ""
    features: np.ndarray  # (n, d)
    logits: np.ndarray  # (n, 1000)
    copy_rows: np.ndarray  # (m,) photos of which a flipped, cropped copy was encoded
    copy_features: np.ndarray
    copy_logits: np.ndarray


def visual_vectors(features: np.ndarray) -> np.ndarray:
    """An alternative to the product's raw-feature cosine, measured here: (n, d) unit rows of
    pooled CNN features made comparable by cosine without any statistics.

    Square root (tames the few large post-ReLU activations), then each row minus its own mean
    (cosine becomes correlation; no catalogue mean vector needed). Precision@10 on the development
    photos: 0.658, against 0.564 for raw cosine and 0.605 for centring on the photos' mean vector.
    """
    rows = np.sqrt(np.maximum(np.atleast_2d(np.asarray(features, dtype=np.float32)), 0.0))
    return unit_rows(rows - rows.mean(axis=1, keepdims=True))


# Weight of meaning in `blend_vectors`: the cosine of two blends is (1 - w) x visual + w x meaning.
# Development photos, precision@10 within Pascal categories (ceiling 0.833: 120 photos, many
# categories with one or two): w = 0 0.658, 0.3 0.757, 0.5 0.788, 0.6 0.801, 0.7 0.812, 0.8 0.817,
# 1 0.824; a flipped, cropped copy finds its original at every w, but its lead over the next photo
# shrinks from 0.41 (w = 0) to 0.16 (0.7) and 0.01 (1): meaning alone cannot tell two photos of
# one class apart. 0.7 is at the top of the plateau with a clear visual part.
BLEND_MEANING_WEIGHT = 0.7


def blend_vectors(
    features: np.ndarray, probabilities: np.ndarray, meaning_weight: float = BLEND_MEANING_WEIGHT
) -> np.ndarray:
    """(n, d + MASS_DIMS) unit rows: `visual_vectors` and `meaning_vectors` side by side, scaled
    by sqrt(1 - w) and sqrt(w) so that their cosine is (1 - w) x visual + w x meaning cosine.

    3,136 dims with EfficientNet-Lite0: over pgvector's 2,000-dim HNSW limit for `vector`, within
    its 4,000 for `halfvec`.
    """
    if not 0.0 <= meaning_weight <= 1.0:
        raise ValueError("meaning_weight must be between 0 and 1.")
    return np.hstack(
        [
            np.sqrt(1.0 - meaning_weight) * visual_vectors(features),
            np.sqrt(meaning_weight) * meaning_vectors(probabilities),
        ]
    ).astype(np.float32)


def flipped_crop(picture: Image.Image) -> Image.Image:
    """The photo mirrored, with 10% cut off its left and top."""
    width, height = picture.size
    return ImageOps.mirror(picture).crop((width // 10, height // 10, width, height))


def lite0_encoder() -> Encoder:
    """EfficientNet-Lite0 in torch (its module moves to ml.torch_encoders with the ONNX runtime)."""
    try:
        from ml.torch_encoders import EfficientNetLite0Encoder
    except ImportError:
        from ml.encoders import EfficientNetLite0Encoder
    return EfficientNetLite0Encoder()


def load_dev_set(dataset: Path, cache: Path | None = None, encoder: Encoder | None = None) -> DevSet:
    """Encode the development photos with `encoder` (default EfficientNet-Lite0), or read the
    cache written before."""
    if cache is not None and cache.exists():
        saved = np.load(cache)
        return DevSet(*(saved[field] for field in DevSet.__dataclass_fields__))
    from ml.images import open_image

    with (dataset / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    pictures = [open_image((dataset / row["file"]).read_bytes()) for row in rows]
    encoder = encoder or lite0_encoder()
    encoding = encoder.encode(pictures)
    copy_rows = np.arange(0, len(rows), 25)
    copies = encoder.encode([flipped_crop(pictures[row]) for row in copy_rows])
    dev = DevSet(
        classes=np.array([int(row["imagenet_index"]) for row in rows]),
        pascal=np.array([row["pascal_category"] for row in rows]),
        features=encoding.features,
        logits=encoding.logits,
        copy_rows=copy_rows,
        copy_features=copies.features,
        copy_logits=copies.logits,
    )
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, **dev.__dict__)
    return dev


# Pascal VOC category -> (query words, WordNet names or wnids whose hyponyms are relevant). Most
# categories are their own query and WordNet name; the exceptions are spelled out.
SELF_NAMED = ("bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "dog", "horse", "person")
SELF_NAMED += ("sheep", "sofa", "train")
PASCAL_WORDS: dict[str, tuple[str, tuple[str, ...]]] = {
    **{word: (word, (word,)) for word in SELF_NAMED},
    "aeroplane": ("airplane", ("airplane",)),
    "diningtable": ("dining table", ("dining table",)),
    "motorbike": ("motorbike", ("n03790512",)),  # motorcycle
    "pottedplant": ("potted plant", ("n03991062",)),  # pot, flowerpot
    "tvmonitor": ("tv monitor", ("n04404412", "n03782006", "n03211117")),  # television, monitor, display
}


def query_vector(lookup: Lookup, text: str) -> np.ndarray | None:
    """As the website builds a word query: the normalised sum of the known words' unit vectors."""
    found = lookup(split_words(text))
    if not found:
        return None
    total = sum(vector / np.linalg.norm(vector) for vector in found.values())
    return total / np.linalg.norm(total)


def relevant_classes(names: tuple[str, ...]) -> frozenset[int]:
    hierarchy = load_hierarchy()
    wnids = {name for name in names if name[:1] == "n" and name[1:].isdigit()}
    by_name = [hierarchy.classes_named(name) for name in names if name not in wnids]
    return hierarchy.classes_under(wnids).union(*by_name)


def word_search(
    joint: np.ndarray, lookup: Lookup, meaning: np.ndarray | None = None, weight: float = WORD_MEANING_WEIGHT
) -> WordSearch:
    """Word search as the website ranks it (semantic mode): cosine to the words' vector over the
    photos' word-space vectors `joint`, blended with the meaning-space cosine (share `weight`)
    when `meaning` vectors are given and some words name WordNet synsets."""

    def scores(text: str) -> np.ndarray | None:
        words = query_vector(lookup, text)
        named = named_meaning([(word, 1.0) for word in split_words(text)])[0] if meaning is not None else None
        if named is None:
            return None if words is None else joint @ words
        if words is None:
            return meaning @ named
        return (1 - weight) * (joint @ words) + weight * (meaning @ named)

    return scores


def pascal_r_precision(search: WordSearch, dev: DevSet, by: str = "wordnet") -> dict[str, float | None]:
    """R-precision of each Pascal word; relevance by WordNet hyponymy (`by="wordnet"`) or by the
    photos' `pascal_category` (`by="pascal"`). None: no relevant photo."""
    results: dict[str, float | None] = {}
    for category, (text, names) in PASCAL_WORDS.items():
        scores = search(text)
        relevant = np.isin(dev.classes, list(relevant_classes(names))) if by == "wordnet" else dev.pascal == category
        results[category] = None if scores is None else r_precision(scores, relevant, cap=10)
    return results


def mean_defined(values: dict[str, float | None]) -> float:
    return float(np.mean([value for value in values.values() if value is not None]))


def label_search(search: WordSearch, dev: DevSet, k: int = 10) -> tuple[float, float]:
    """Share of photos within the top `k` when searching their own class label: over all photos,
    and over those whose label the search understands."""
    hits, known = 0, 0
    for row, index in enumerate(dev.classes):
        scores = search(" ".join(class_words(index)))
        if scores is None:
            continue
        known += 1
        hits += int((scores > scores[row]).sum()) < k
    return hits / len(dev.classes), hits / known


def hypernym_r_precision(search: WordSearch, dev: DevSet, words: WordVectors, frequent: int = 20_000) -> float:
    """Mean R-precision for the names of WordNet ancestors (one frequent word, e.g. "snake",
    "truck") that cover at least one photo, Pascal words excluded: word search beyond Pascal."""
    hierarchy = load_hierarchy()
    common = set(words.words[:frequent])
    pascal = {w for text, names in PASCAL_WORDS.values() for w in (*split_words(text), *names)}
    ancestors = {wnid for chain in hierarchy.ancestors for wnid in chain}
    values = []
    for name in sorted({hierarchy.name(wnid).lower() for wnid in ancestors} & common - pascal):
        relevant = np.isin(dev.classes, list(hierarchy.classes_named(name)))
        scores = search(name)
        if relevant.any() and scores is not None:
            values.append(r_precision(scores, relevant, cap=10))
    return float(np.mean(values))


def tag_hits(dev: DevSet, first: int = 5) -> tuple[float, float]:
    """Share of photos whose first tags include their label or a basic-level ancestor name, and
    share that include the label itself."""
    hierarchy = load_hierarchy()
    probabilities = softmax(dev.logits)
    any_hit, label_hit = 0, 0
    for row, index in enumerate(dev.classes):
        tags = [tag for tag, _ in image_tags(probabilities[row], first)]
        label = CLASS_NAMES[index].lower()
        any_hit += bool({label, *hierarchy.basic_level_names(index)} & set(tags))
        label_hit += label in tags
    return any_hit / len(dev.classes), label_hit / len(dev.classes)


def precision_at_10(vectors: np.ndarray, dev: DevSet) -> float:
    """Mean share of same-Pascal-category photos among the 10 nearest others (cosine), over the
    photos that have a category."""
    return neighbour_precision(unit_rows(vectors), dev.pascal, 10) or 0.0


def copies_found(vectors: np.ndarray, copy_vectors: np.ndarray, dev: DevSet) -> int:
    """How many flipped, cropped copies have their original as nearest photo."""
    return int((np.argmax(copy_vectors @ vectors.T, axis=1) == dev.copy_rows).sum())


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
        Path(arguments[0]) if arguments else Path(os.environ.get("DEV_DATASET", DEFAULT_DATASET)),
        Path(arguments[1]) if len(arguments) > 1 else REPOSITORY / ".local" / "dev_encodings.npz",
    )
