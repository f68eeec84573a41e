"""Zero-shot image vectors in the sentence space: ConSE over class prototypes.

Each ImageNet class's prototype is the sentence vector of its names (every WordNet synonym, in a
prompt template) blended with those of its informative WordNet ancestors, nearest weighted most:
a "sorrel" is near "horse", a "studio couch" near "sofa". An image's vector is then the
probability-weighted mean of its top classes' prototypes (`ml.conse.conse_vectors`), comparable
by cosine with any embedded query ("man on a horse").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ml.cache_files import write_atomically
from ml.conse import conse_vectors
from ml.hierarchy import MAX_INFORMATIVE_CLASSES, load_hierarchy
from ml.imagenet import CLASS_NAMES
from ml.vectors import unit_rows

Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, d) unit rows, e.g. SentenceEncoder.embed


@dataclass(frozen=True)
class PrototypeRecipe:
    """How prototypes are made; every field is measured in bench.measure_words."""

    template: str = "{}"  # each name is embedded inside it ("a photo of a {}" measured worse)
    synonyms: bool = True  # all of a class's WordNet names, else its label alone
    ancestor_share: float = 0.45  # the ancestors' share of the prototype
    ancestor_decay: float = 0.5  # the k-th nearest ancestor weighs decay**k
    max_classes: int = MAX_INFORMATIVE_CLASSES  # ancestors covering more classes say nothing
    basic_level_only: bool = False  # only ancestors whose first name is one word ("horse", not "odd-toed ungulate")


DEFAULT_RECIPE = PrototypeRecipe()


def class_texts(recipe: PrototypeRecipe = DEFAULT_RECIPE) -> tuple[list[list[str]], list[list[str]]]:
    """Per class: the name texts, and the ancestor texts nearest first (one per ancestor, its first name)."""
    hierarchy = load_hierarchy()
    names, ancestors = [], []
    for index, label in enumerate(CLASS_NAMES):
        synonyms = hierarchy.class_names(index) if recipe.synonyms else ()
        unique = list(dict.fromkeys(name.lower() for name in (label, *synonyms)))
        names.append([recipe.template.format(name) for name in unique])
        chain = (
            hierarchy.basic_level_ancestors(index, recipe.max_classes)
            if recipe.basic_level_only
            else hierarchy.informative_ancestors(index, recipe.max_classes)
        )
        ancestors.append([recipe.template.format(hierarchy.name(wnid).lower()) for wnid in chain])
    return names, ancestors


def build_prototypes(embed: Embed, recipe: PrototypeRecipe = DEFAULT_RECIPE) -> np.ndarray:
    """(1000, d) float32 unit rows, embedding every distinct text once (about 3,000: 3 s on 2 cores)."""
    names, ancestors = class_texts(recipe)
    texts = sorted({text for group in (*names, *ancestors) for text in group})
    vectors = dict(zip(texts, np.asarray(embed(texts), dtype=np.float64), strict=True))
    rows = []
    for name_texts, ancestor_texts in zip(names, ancestors, strict=True):
        name = unit_rows(np.mean([vectors[text] for text in name_texts], axis=0))
        if ancestor_texts and recipe.ancestor_share > 0:
            weights = recipe.ancestor_decay ** np.arange(len(ancestor_texts))
            kinds = np.einsum("k,kd->d", weights / weights.sum(), np.stack([vectors[t] for t in ancestor_texts]))
            name = unit_rows((1 - recipe.ancestor_share) * name + recipe.ancestor_share * kinds)
        rows.append(name)
    return np.stack(rows).astype(np.float32)


def class_prototypes(
    embed: Embed, model_id: str, cache_dir: Path | None = None, recipe: PrototypeRecipe = DEFAULT_RECIPE
) -> np.ndarray:
    """`build_prototypes`, kept as .npy in `cache_dir` under a name that changes with the model
    and the recipe (so a new recipe never reads stale prototypes)."""
    if cache_dir is None:
        return build_prototypes(embed, recipe)
    key = hashlib.sha256(json.dumps([model_id, asdict(recipe)], sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"prototypes-{key}.npy"
    if path.exists():
        return np.load(path)
    prototypes = build_prototypes(embed, recipe)
    write_atomically(path, lambda staging: np.save(staging, prototypes))
    return prototypes


# Classes per image whose prototypes are mixed (ConSE's T). Dev photos (bench.measure_words):
# T=5 / 10 / 20: Flickr P@10 0.272 / 0.289 / 0.302, Pascal R-precision 0.958 / 0.944 / 0.922;
# with the query-side helps of ml.word_ranking T=20 gains more (0.322 against 0.303).
TOP_CLASSES = 20


def sentence_image_vectors(probabilities: np.ndarray, prototypes: np.ndarray, top_t: int = TOP_CLASSES) -> np.ndarray:
    """(n, d) unit vectors in the sentence space from (n, 1000) class probabilities (the softmax of
    the logits) and (1000, d) prototypes."""
    return conse_vectors(probabilities, prototypes, top_t)
