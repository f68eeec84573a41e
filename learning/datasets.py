"""What training learns from: ready items of trainable categories, their stored features and
the word-space targets of their labels (and, optionally, of their titles and descriptions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalog.models import Category, Image
from ml.vectors import unit_rows
from ml.words import words_of
from spaces import selectors, vector_sql
from spaces.models import EmbeddingSpace, ImageEmbedding

# Weight of an item's title and description words next to its label words, when they are used.
TEXT_WEIGHT = 0.5


@dataclass
class LabelledItems:
    """Ready items of trainable categories whose label words the word space knows."""

    image_ids: np.ndarray
    features: np.ndarray
    labels: np.ndarray  # index into label_names
    label_names: list[str]
    label_words: list[list[str]]
    label_vectors: np.ndarray  # unit mean of each label's word vectors
    targets: np.ndarray  # per item: its label's vector, or that blended with its text words
    skipped: list[str]  # categories none of whose words the word space knows

    def subset(self, mask: np.ndarray) -> LabelledItems:
        """The items in `mask`, with only the labels they use (renumbered)."""
        used = sorted(set(self.labels[mask].tolist()))
        renumber = np.full(len(self.label_names), -1)
        renumber[used] = np.arange(len(used))
        return LabelledItems(
            image_ids=self.image_ids[mask],
            features=self.features[mask],
            labels=renumber[self.labels[mask]],
            label_names=[self.label_names[i] for i in used],
            label_words=[self.label_words[i] for i in used],
            label_vectors=self.label_vectors[used],
            targets=self.targets[mask],
            skipped=self.skipped,
        )


def mean_word_vector(vectors: dict[str, np.ndarray], words: list[str]) -> np.ndarray | None:
    found = [unit_rows(vectors[word]) for word in words if word in vectors]
    return unit_rows(np.mean(found, axis=0)) if found else None


def labelled_items(image_space: EmbeddingSpace, word_space: EmbeddingSpace, *, text_words: bool) -> LabelledItems:
    categories = {category.pk: category for category in Category.objects.filter(trained_on=True)}
    rows = list(
        ImageEmbedding.objects.filter(
            space=image_space, image__status=Image.Status.READY, image__category_id__in=list(categories)
        )
        .order_by("image_id")
        .values_list(
            "image_id", "image__category_id", "image__title", "image__description", vector_sql.column(image_space)
        )
    )
    texts = {row[0]: words_of(f"{row[2]} {row[3]}") for row in rows} if text_words else {}
    wanted = {word for category in categories.values() for word in category.words}
    vectors = selectors.word_vectors(word_space, wanted | {w for words in texts.values() for w in words})
    names, words, label_vectors, skipped, index = [], [], [], [], {}
    for category in sorted(categories.values(), key=lambda category: category.name):
        vector = mean_word_vector(vectors, category.words)
        if vector is None:
            skipped.append(category.name)
            continue
        index[category.pk] = len(names)
        names.append(category.name)
        words.append([word for word in category.words if word in vectors])
        label_vectors.append(vector)
    rows = [row for row in rows if row[1] in index]
    labels = np.array([index[row[1]] for row in rows], dtype=np.int64)
    label_matrix = np.array(label_vectors, dtype=np.float32).reshape(len(names), word_space.dims)
    targets = label_matrix[labels] if len(rows) else np.zeros((0, word_space.dims), dtype=np.float32)
    if text_words:
        for row_number, row in enumerate(rows):
            text = mean_word_vector(vectors, texts[row[0]])
            if text is not None:
                targets[row_number] = unit_rows(targets[row_number] + TEXT_WEIGHT * text)
    return LabelledItems(
        image_ids=np.array([row[0] for row in rows], dtype=np.int64),
        features=np.array([row[4] for row in rows], dtype=np.float32).reshape(len(rows), image_space.dims),
        labels=labels, label_names=names, label_words=words, label_vectors=label_matrix,
        targets=targets, skipped=skipped,
    )  # fmt: skip
