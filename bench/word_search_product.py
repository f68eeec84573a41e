"""Word search measured through the product: the dev photos as catalogue items (vectors, classes
and tags from `ml.embed.embed` over their cached encodings, the worker's assembly), searched with
`search.modes.images_for_words` in each mode, over the sentence space and GloVe in the same run.

Two catalogues, as the issue measures: (1) the ImageNet dev photos with the Flickr8k dev photos,
for Flickr precision@10 (relevance from the captions, which are not imported); (2) the ImageNet dev
photos alone, for the Pascal words' R-precision and each photo's own label. Items are titled
with their ImageNet label (Flickr photos have no title) and filed under their Pascal category,
as the dev catalogue is, so the text side of hybrid search has what an admin would write.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils.text import slugify

from bench.flickr_queries import ONE_WORD, QUERIES, precision_at_10, relevant_flickr, relevant_imagenet
from bench.scale.synthetic import Batch, insert_items, insert_vectors
from bench.tag_metrics import tag_scores
from bench.word_dev_photos import DevPhotos
from bench.word_search_quality import label_search, mean_defined, pascal_r_precision
from catalog.models import Category
from catalog.services import SEARCH_DOCUMENT_SQL
from ml.embed import EmbeddedImages, embed
from ml.encoding import Encoding
from search import modes
from spaces import selectors, services
from spaces.encoders import sentence_encoder, sentence_vector
from spaces.models import EmbeddingSpace

MODES = (modes.Match.HYBRID, modes.Match.SEMANTIC)
CHUNK = 2_000


@dataclass
class Row:
    """One word space in one mode: the issue's figures."""

    space: str
    mode: str
    flickr: float = 0.0
    one_word: float = 0.0
    two_word: float = 0.0
    pascal: float = 0.0
    label: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class Spaces:
    """The spaces both catalogues fill: one joint space per word space, the shared image spaces."""

    image: EmbeddingSpace
    meaning: EmbeddingSpace
    joints: dict[str, EmbeddingSpace]  # word space name -> its ConSE joint space


def prepare_spaces(encoder) -> Spaces:
    """Both word spaces and the encoder's spaces in each (the sentence space's left active)."""
    glove = services.ensure_glove_word_space()
    sentence = services.ensure_sentence_word_space()
    joints = {}
    for word_space in (glove, sentence):
        services.activate_space(word_space)
        found = services.ensure_image_spaces(encoder)
        joints[word_space.name] = found.joint
    return Spaces(image=found.image, meaning=found.meaning, joints=joints)


def embedded_in(word_space: EmbeddingSpace, photos: DevPhotos, rows: np.ndarray) -> EmbeddedImages:
    """The photos' vectors in the word space's joint space (and every other), tags and classes."""
    return embed(
        Encoding(photos.features[rows], photos.logits[rows]),
        class_vectors=selectors.class_vectors(word_space),
        top_t=selectors.conse_top_t(word_space),
        tags_per_image=settings.TAGS_PER_IMAGE,
    )


def fill_catalogue(spaces: Spaces, photos: DevPhotos, rows: np.ndarray, titles: list[str], categories: list[str]):
    """Replace the catalogue by these photos (in this order); returns their ids and stored tags."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_image CASCADE")
    category_ids = [
        Category.objects.get_or_create(slug=slugify(f"dev-{name}"), defaults={"name": name})[0].pk
        for name in categories
    ]
    ids: list[int] = []
    tags: list[list[dict]] = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        first = None
        for joint in spaces.joints.values():
            embedded = embedded_in(joint.word_space, photos, chunk)
            if first is None:
                first = embedded
                seeds = np.arange(start, start + len(chunk))
                chunk_ids = insert_items(Batch(embedded, seeds), titles, category_ids, start)
                insert_vectors(spaces.image, chunk_ids, embedded.features)
                insert_vectors(spaces.meaning, chunk_ids, embedded.meaning)
                ids += chunk_ids
                tags += embedded.tags
            insert_vectors(joint, chunk_ids, embedded.conse)
    with connection.cursor() as cursor:
        # insert_items titles each item "<title> <number>": the number is no word anyone searches.
        cursor.execute(SEARCH_DOCUMENT_SQL.format(where="i.search_document IS NULL"))
        cursor.execute("ANALYZE")
    return ids, tags


def product_search(ids: list[int], mode: str, timings: list[float]):
    """A WordSearch (text -> a score per photo) from the product's top 10: minus the rank for the
    hits, -inf for the rest (the bench metrics look no further than 10)."""
    row_of = {image_id: row for row, image_id in enumerate(ids)}

    def scores(text: str) -> np.ndarray:
        started = time.perf_counter()
        hits = modes.images_for_words(text, modes.Filters(k=10), mode).hits
        timings.append(time.perf_counter() - started)
        result = np.full(len(ids), -np.inf)
        for rank, hit in enumerate(hits):
            result[row_of[hit.image.pk]] = -rank
        return result

    return scores


def use_joint(joint: EmbeddingSpace) -> None:
    services.activate_space(joint)
    if joint.word_space.encodes_sentences:
        sentence_vector("warm up")  # loads the model (about 0.3 s): not part of any query's time


def cold_queries() -> None:
    """Each mode's timings include encoding every query (visitors' repeats would hit the cache)."""
    sentence_vector.cache_clear()


def flickr_catalogue(spaces: Spaces, photos: DevPhotos) -> tuple[list[int], dict[str, np.ndarray]]:
    """The ImageNet and Flickr dev photos as the catalogue: their ids and each query's relevant rows."""
    rows = np.arange(len(photos.logits))
    titles = [*photos.labels, *([""] * len(photos.captions))]
    categories = [*(p or "other" for p in photos.pascal), *(["flickr"] * len(photos.captions))]
    ids, _ = fill_catalogue(spaces, photos, rows, titles, categories)
    relevant = {
        text: np.concatenate([relevant_imagenet(text, photos.classes), relevant_flickr(text, photos.captions)])
        for text in QUERIES
    }
    return ids, relevant


def measure_flickr_on(
    spaces: Spaces, ids: list[int], relevant: dict[str, np.ndarray], results: dict[tuple[str, str], Row]
) -> None:
    for name, joint in spaces.joints.items():
        use_joint(joint)
        for mode in MODES:
            cold_queries()
            timings: list[float] = []
            search = product_search(ids, mode, timings)
            per_query = {text: precision_at_10(search(text), relevant[text]) for text in QUERIES}
            row = results.setdefault((name, mode), Row(space=name, mode=mode))
            row.flickr = float(np.mean(list(per_query.values())))
            row.one_word = float(np.mean([per_query[text] for text in ONE_WORD]))
            row.two_word = float(np.mean([v for text, v in per_query.items() if text not in ONE_WORD]))
            row.latency_ms = {
                "p50": float(np.percentile(timings, 50) * 1000),
                "p95": float(np.percentile(timings, 95) * 1000),
            }


def measure_flickr(spaces: Spaces, photos: DevPhotos, results: dict[tuple[str, str], Row]) -> None:
    measure_flickr_on(spaces, *flickr_catalogue(spaces, photos), results)


def imagenet_catalogue(spaces: Spaces, photos: DevPhotos) -> tuple[list[int], list[list[dict]]]:
    """The ImageNet dev photos alone as the catalogue: their ids and stored tags."""
    rows = np.arange(photos.n_imagenet)
    return fill_catalogue(spaces, photos, rows, list(photos.labels), [p or "other" for p in photos.pascal])


def measure_imagenet_on(spaces: Spaces, photos: DevPhotos, ids: list[int], results: dict[tuple[str, str], Row]) -> None:
    dev = SimpleNamespace(classes=photos.classes, pascal=photos.pascal)
    for name, joint in spaces.joints.items():
        use_joint(joint)
        for mode in MODES:
            search = product_search(ids, mode, [])
            row = results.setdefault((name, mode), Row(space=name, mode=mode))
            row.pascal = mean_defined(pascal_r_precision(search, dev))
            row.label = label_search(search, dev)[0]


def measure_imagenet(spaces: Spaces, photos: DevPhotos, results: dict[tuple[str, str], Row]) -> tuple:
    ids, tags = imagenet_catalogue(spaces, photos)
    measure_imagenet_on(spaces, photos, ids, results)
    return tag_scores([[(tag["word"], tag.get("wnid")) for tag in item] for item in tags], photos.classes)


def encoding_ms() -> float:
    """p50 of encoding one query in the sentence encoder (best of 3 per query: the machine is shared)."""
    times = []
    for text in QUERIES:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            sentence_encoder().embed([text])
            runs.append(time.perf_counter() - started)
        times.append(min(runs))
    return float(np.percentile(times, 50) * 1000)


def as_json(rows: list[Row], tags: tuple, encoding: float) -> str:
    return json.dumps({"rows": [row.__dict__ for row in rows], "tags": tags, "encoding_ms": encoding}, indent=1)
