"""How well each space finds things, side by side, on the catalogue or on a labelled folder.

For every joint space: words -> images precision@10 and R-precision per label word, the tag hit
rate (an item's label word among its 10 nearest tag words), image -> image precision@10 within the
labelled items, and the means over the training labels and over the other (zero-shot) labels.
`learning.report` renders the report, one self-contained HTML page.
On the catalogue, items that a compared model was trained on are left out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from catalog import services as catalog_services
from catalog.models import Image
from learning import text_evaluation
from learning.texts import item_texts
from ml.embed import Vocabulary
from ml.images import open_image
from ml.metrics import neighbour_precision, precision_at, r_precision
from ml.vectors import unit_rows
from ml.words import words_of
from spaces import selectors
from spaces.embedding import embed_pictures
from spaces.encoders import current_encoder
from spaces.models import EmbeddingSpace, JointModel

Kind = EmbeddingSpace.Kind
TOP_K = 10
EXAMPLE_WORDS = ("ocean", "street", "grass")  # no item is labelled with them: zero-shot examples


@dataclass
class EvalSet:
    keys: list  # image ids (catalogue) or file names (folder)
    labels: list[str | None]
    vectors: dict[int, np.ndarray]  # space pk -> (n, dims)
    thumbnail: Callable[[int], bytes | None]  # row -> small JPEG
    source: str
    notes: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # each item's description and title ("" for none)


def label_words(label: str) -> list[str]:
    """A label's words: those of the catalogue category of that name, else the label's own."""
    category = catalog_services.find_category(label)
    return category.words if category else words_of(label)


def trained_models(spaces: list[EmbeddingSpace]) -> dict[int, JointModel]:
    return {model.space_id: model for model in JointModel.objects.filter(space__in=spaces)}


def catalogue_set(spaces: list[EmbeddingSpace]) -> EvalSet:
    """Ready items with a vector in every space, minus those any compared model was trained on."""
    seen = {image_id for model in trained_models(spaces).values() for image_id in model.train_ids}
    stored = [selectors.vectors_of(space, ready=True) for space in spaces]
    common = set.intersection(*(set(vectors) for vectors in stored)) if stored else set()
    images = Image.objects.filter(pk__in=common).select_related("category").order_by("pk")
    notes = []
    unseen = [image for image in images if image.pk not in seen]
    if seen and any(image.category.trained_on or _text(image) for image in unseen):
        notes.append(f"{len(images) - len(unseen)} items that a compared model was trained on are left out.")
        images = unseen
    elif seen:
        notes.append("Every labelled item was used in training: these numbers include training items.")
        images = list(images)
    else:
        images = list(images)
    thumbnails = [image.thumbnail for image in images]

    def thumbnail(row: int) -> bytes | None:
        if not thumbnails[row]:
            return None
        with thumbnails[row].open("rb") as handle:
            return handle.read()

    return EvalSet(
        keys=[image.pk for image in images],
        labels=[image.category.name if image.category.trained_on else None for image in images],
        vectors={
            space.pk: np.array([vectors[image.pk] for image in images], dtype=np.float32).reshape(-1, space.dims)
            for space, vectors in zip(spaces, stored, strict=True)
        },
        thumbnail=thumbnail,
        source=f"the catalogue ({len(images)} ready items)",
        notes=notes,
        texts=[_text(image) for image in images],
    )


def _text(image: Image) -> str:
    return " ".join(item_texts(image.title, image.description, None))


def small_jpeg(picture: PILImage.Image, size: int = 96) -> bytes:
    picture = picture.copy()
    picture.thumbnail((size, size))
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def folder_set(
    spaces: list[EmbeddingSpace], directory: Path, labels_file: Path, column: str, file_column: str = "file"
) -> EvalSet:
    """A labelled folder, encoded with the current encoder and projected into each space; nothing
    is stored. Rows with an empty label are unlabelled distractors."""
    with labels_file.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    encoder = current_encoder()
    pictures = [
        open_image((directory / row[file_column]).read_bytes(), max_pixels=settings.MAX_IMAGE_PIXELS) for row in rows
    ]
    thumbnails = [small_jpeg(picture) for picture in pictures]
    trained = trained_models(spaces)
    vectors = {}
    for space in spaces:
        if space.kind == Kind.IMAGE and space.name != encoder.name:
            raise ValueError(f"{space.name} is not the current encoder's space ({encoder.name}).")
    word_spaces = {space.word_space for space in spaces if space.kind == Kind.JOINT}
    if not word_spaces:
        features = encoder.encode(pictures).features
        vectors = {space.pk: features for space in spaces if space.kind == Kind.IMAGE}
    for word_space in word_spaces:
        models = [model for model in trained.values() if model.space.word_space_id == word_space.pk]
        embedded = embed_pictures(encoder, pictures, word_space, models=models)
        for space in spaces:
            if space.kind == Kind.IMAGE:
                vectors[space.pk] = embedded.features
            elif space.kind == Kind.JOINT and space.word_space_id == word_space.pk:
                vectors[space.pk] = embedded.heads.get(space, embedded.conse)
    return EvalSet(
        keys=[row[file_column] for row in rows],
        labels=[row[column].strip() or None for row in rows],
        vectors=vectors,
        thumbnail=thumbnails.__getitem__,
        source=f"{directory} ({len(rows)} photos, labels from column {column!r} of {labels_file.name})",
    )


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def evaluate(eval_set: EvalSet, spaces: list[EmbeddingSpace]) -> dict:
    """The metrics of each space (a JSON-able dict; see the module docstring)."""
    trained = trained_models(spaces)
    training_labels = {entry["name"].lower() for model in trained.values() for entry in model.labels}
    labels = np.array([label or "" for label in eval_set.labels], dtype=object)
    labelled = labels != ""
    names = sorted({label for label in eval_set.labels if label})
    words = {name: label_words(name) for name in names}
    result = {
        "source": eval_set.source,
        "notes": eval_set.notes,
        "items": len(labels),
        "labelled": int(labelled.sum()),
        "labels": {
            name: {
                "words": words[name],
                "relevant": int((labels == name).sum()),
                "group": "trained" if name.lower() in training_labels else "zero-shot",
            }
            for name in names
        },
        "spaces": {},
    }
    for space in spaces:
        vectors = unit_rows(eval_set.vectors[space.pk])
        entry: dict = {
            "kind": space.kind,
            "state": space.state,
            "is_trained": space.pk in trained,
            "image_p10": neighbour_precision(vectors[labelled], labels[labelled], TOP_K),
        }
        if space.kind == Kind.JOINT:
            tags = selectors.tag_vocabulary(space.word_space)  # cached per process
            entry.update(_word_metrics(space, eval_set.vectors, labels, words, result["labels"], tags))
        result["spaces"][space.name] = entry
    joint = [space for space in spaces if space.kind == Kind.JOINT]
    if any(eval_set.texts):
        result["text"] = text_evaluation.text_metrics(eval_set.texts, eval_set.vectors, joint)
        for name, means in result["text"]["means"].items():
            result["spaces"][name]["text"] = means
    return result


def _word_metrics(
    space: EmbeddingSpace,
    by_space: dict[int, np.ndarray],
    labels: np.ndarray,
    words: dict[str, list[str]],
    info: dict,
    tags: Vocabulary,
) -> dict:
    per_label = {}
    vectors = unit_rows(by_space[space.pk])
    for name, name_words in words.items():
        scores = text_evaluation.space_scores(space, " ".join(name_words), by_space) if name_words else None
        if scores is None:
            continue
        relevant = labels == name
        per_label[name] = {
            "p10": round(precision_at(scores, relevant, TOP_K), 4),
            "r_precision": round(r_precision(scores, relevant) or 0.0, 4),
        }
    groups = {}
    for group in ("trained", "zero-shot", None):
        chosen = [name for name in per_label if group is None or info[name]["group"] == group]
        groups[group or "all"] = {
            "labels": len(chosen),
            "p10": _mean([per_label[name]["p10"] for name in chosen]),
            "r_precision": _mean([per_label[name]["r_precision"] for name in chosen]),
        }
    tag_words, tag_matrix = tags.words, tags.unit
    hits = []
    for row in np.flatnonzero(labels != ""):
        if words[labels[row]] and len(tag_words):
            top = np.argsort(-(tag_matrix @ vectors[row]))[: settings.TAGS_PER_IMAGE]
            hits.append(bool(set(words[labels[row]]) & {tag_words[i] for i in top}))
    return {"per_label": per_label, **groups, "tag_hit_rate": _mean([float(hit) for hit in hits])}


# --- Comparisons -------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    better: bool
    reason: str


def _score(entry: dict) -> tuple[float | None, int]:
    """Mean R-precision over the label words and the text words together, and their number."""
    groups = [entry.get(key) or {} for key in ("all", "text")]
    counts = [groups[0].get("labels") or 0, groups[1].get("words") or 0]
    values = [(group.get("r_precision"), count) for group, count in zip(groups, counts, strict=True)]
    values = [(value, count) for value, count in values if value is not None and count]
    if not values:
        return None, 0
    total = sum(count for _, count in values)
    return sum(value * count for value, count in values) / total, total


def verdict(result: dict, candidate: EmbeddingSpace, incumbent: EmbeddingSpace) -> Verdict:
    """Better means a higher mean R-precision over the label words and the words of the held-out
    items' texts."""
    (new, count), (old, _) = (_score(result["spaces"][space.name]) for space in (candidate, incumbent))
    if new is None or old is None:
        return Verdict(False, "no labelled or described held-out items to compare them on.")
    reason = (
        f"mean R-precision {new:.3f} against {old:.3f} for {incumbent.name}, "
        f"over {count} label and text words on {result['items']} items"
    )
    return Verdict(new > old, reason)


def compare_on_catalogue(candidate: EmbeddingSpace, incumbent: EmbeddingSpace) -> Verdict:
    spaces = [candidate, incumbent]
    return verdict(evaluate(catalogue_set(spaces), spaces), candidate, incumbent)
