"""What a sentence-space head learns from: every ready item with some text (its description, a
title that says something, its category's name and label words when the category is trained
on), its stored CNN features and WordNet meaning, and as target the unit mean of its texts'
sentence embeddings (cached on disk by text under MODEL_DIR, `ml.text_cache`). Items without
any text are not trained on: they are the ones the trained space is for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from django.conf import settings

from catalog.models import Image
from ml.sentences import MODEL_ID
from ml.text_cache import TextEmbeddings
from ml.vectors import unit_rows
from spaces import selectors as spaces_selectors
from spaces.encoders import sentence_encoder
from spaces.models import EmbeddingSpace

# Titles made from file names ("IMG 2034", "1001773457 577c3a7d70") say nothing: a title counts
# as text when it has a word of three letters or more that is not one of these.
CAMERA_WORDS = frozenset({"img", "dsc", "dscn", "dcim", "pic", "photo", "image", "untitled", "scan", "jpeg", "jpg"})
_WORD = re.compile(r"\b[a-zA-Z]{3,}\b")


def meaning_space_name(image_space: EmbeddingSpace) -> str:
    return f"{image_space.name}/wordnet"


def says_something(title: str) -> bool:
    return any(word.lower() not in CAMERA_WORDS for word in _WORD.findall(title))


def item_texts(title: str, description: str, category_words: str | None) -> list[str]:
    """The texts of an item that a head learns from, most telling first."""
    texts = [description.strip()] if description.strip() else []
    if says_something(title):
        texts.append(title.strip())
    if category_words:
        texts.append(category_words)
    return list(dict.fromkeys(texts))


def category_text(name: str, words: list[str]) -> str:
    return " ".join(dict.fromkeys([name.lower(), *words]))


@lru_cache(maxsize=1)
def text_embeddings() -> TextEmbeddings:
    return TextEmbeddings(
        settings.MODEL_DIR / "text-embeddings", MODEL_ID, lambda texts: sentence_encoder().embed(texts)
    )


def embed_texts(texts: list[str]) -> np.ndarray:
    return text_embeddings().embed(texts)


@dataclass
class DescribedItems:
    image_ids: np.ndarray
    features: np.ndarray
    meaning: np.ndarray
    targets: np.ndarray  # unit mean sentence embedding of each item's texts
    texts: list[list[str]]
    groups: np.ndarray  # category index for items of a trained-on category, -1 for the others

    def subset(self, mask: np.ndarray) -> DescribedItems:
        return DescribedItems(
            self.image_ids[mask],
            self.features[mask],
            self.meaning[mask],
            self.targets[mask],
            [texts for texts, keep in zip(self.texts, mask, strict=True) if keep],
            self.groups[mask],
        )


def described_items(image_space: EmbeddingSpace) -> DescribedItems:
    """Ready items with a text and a vector in both the image and the meaning space."""
    meaning_space = EmbeddingSpace.objects.get(name=meaning_space_name(image_space))
    rows = list(
        Image.objects.filter(status=Image.Status.READY, embeddings__space=image_space)
        .select_related("category")
        .order_by("pk")
    )
    texts = {}
    for image in rows:
        category = image.category
        words = category_text(category.name, category.words) if category.trained_on else None
        found = item_texts(image.title, image.description, words)
        if found:
            texts[image.pk] = found
    ids = [image.pk for image in rows if image.pk in texts]
    groups = {image.pk: image.category_id if image.category.trained_on else -1 for image in rows}
    vectors = {space.pk: spaces_selectors.vectors_of(space, ids) for space in (image_space, meaning_space)}
    ids = [pk for pk in ids if pk in vectors[meaning_space.pk] and pk in vectors[image_space.pk]]
    flat = [text for pk in ids for text in texts[pk]]
    embedded = embed_texts(flat) if flat else np.zeros((0, 1), dtype=np.float32)
    targets, start = [], 0
    for pk in ids:
        targets.append(unit_rows(embedded[start : start + len(texts[pk])].mean(axis=0)))
        start += len(texts[pk])

    def matrix(space: EmbeddingSpace) -> np.ndarray:
        return np.array([vectors[space.pk][pk] for pk in ids], dtype=np.float32).reshape(len(ids), space.dims)

    return DescribedItems(
        image_ids=np.array(ids, dtype=np.int64),
        features=matrix(image_space),
        meaning=matrix(meaning_space),
        targets=np.array(targets, dtype=np.float32).reshape(len(ids), -1),
        texts=[texts[pk] for pk in ids],
        groups=np.array([groups[pk] for pk in ids], dtype=np.int64),
    )
