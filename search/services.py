"""Writes for search: embedding spaces, word vectors, and the vectors of catalogue items."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from pgvector.psycopg import register_vector
from PIL import Image as PILImage

from ml.conse import conse_vectors, softmax, top_classes
from ml.encoding import ImageEncoder
from ml.imagenet import CLASS_NAMES
from ml.meaning import MASS_DIMS, wordnet_mass
from ml.words import GLOVE_6B_50D_SOURCE, is_tag_word, load_glove_6b_50d
from search import selectors, vectors
from search.encoders import current_encoder
from search.models import EmbeddingSpace, ImageEmbedding

Kind = EmbeddingSpace.Kind
State = EmbeddingSpace.State

DEFAULT_WORD_SPACE = "glove-6b-50d"


def register_space(
    *,
    name: str,
    kind: str,
    model: str,
    dims: int,
    source: str = "",
    checksum: str = "",
    word_space: EmbeddingSpace | None = None,
    index_now: bool = True,
) -> EmbeddingSpace:
    """Get or create a space. The first space of a kind becomes active; later ones wait for
    `activate_space`, so that they can fill in while the current one keeps serving."""
    with transaction.atomic():
        # Serialise registrations: two workers starting together must not both create a space.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('register_space'))")
        space = EmbeddingSpace.objects.filter(name=name).first()
        if space:
            return space
        has_active = EmbeddingSpace.objects.filter(kind=kind, state=State.ACTIVE).exists()
        space = EmbeddingSpace.objects.create(
            name=name,
            kind=kind,
            model=model,
            dims=dims,
            source=source,
            checksum=checksum,
            word_space=word_space,
            state=State.BUILDING if has_active or not index_now else State.ACTIVE,
        )
        if index_now:
            create_space_index(space)
    return space


def create_space_index(space: EmbeddingSpace) -> None:
    with connection.cursor() as cursor:
        for statement in vectors.index_sql(space):
            cursor.execute(statement)


def activate_space(space: EmbeddingSpace) -> None:
    """Make `space` the one searches of its kind use; the previous one is retired, not deleted."""
    with transaction.atomic():
        EmbeddingSpace.objects.filter(kind=space.kind, state=State.ACTIVE).exclude(pk=space.pk).update(
            state=State.RETIRED
        )
        space.state = State.ACTIVE
        space.save(update_fields=["state"])


def finish_building(space: EmbeddingSpace, *, activate: bool = False) -> None:
    """A space whose vectors are all in: active if asked or if its kind has none, else retired
    (kept for a later switch)."""
    if activate or not selectors.active_space(space.kind):
        activate_space(space)
    elif space.state == State.BUILDING:
        space.state = State.RETIRED
        space.save(update_fields=["state"])


# --- Word vectors --------------------------------------------------------------------------


def import_words(
    space: EmbeddingSpace,
    rows: Iterable[tuple[str, np.ndarray]],
    *,
    tag_vocabulary_size: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Bulk-load words with COPY (binary), then build the space's HNSW index in one go
    (much faster than growing it row by row). Repeated words keep their first vector."""
    seen: set[str] = set()
    count = 0
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.connection
        register_vector(raw)
        cursor.execute("DELETE FROM search_word WHERE space_id = %s", [space.pk])
        with raw.cursor().copy(
            "COPY search_word (space_id, word, is_tag, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "text", "bool", "vector"])
            for word, vector in rows:
                if word in seen or len(word) > 200 or vector.shape != (space.dims,):
                    continue
                seen.add(word)
                copy.write_row((space.pk, word, count < tag_vocabulary_size and is_tag_word(word), vector))
                count += 1
                if progress and count % 10_000 == 0:
                    progress(10_000)
        # Run the deferred foreign-key checks now: PostgreSQL won't index a table with pending ones.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        create_space_index(space)
        cursor.execute("ANALYZE search_word")
    return count


def ensure_default_word_space(progress: Callable[[int], None] | None = None) -> EmbeddingSpace:
    """The GloVe 6B 50-d vectors shipped in a wheel: imported once, on first need."""
    existing = EmbeddingSpace.objects.filter(name=DEFAULT_WORD_SPACE).first()
    if existing and existing.state != State.BUILDING:
        return existing
    with transaction.atomic():
        with connection.cursor() as cursor:  # one importer at a time across workers
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('default_word_space'))")
        existing = EmbeddingSpace.objects.filter(name=DEFAULT_WORD_SPACE).first()
        if existing and existing.state != State.BUILDING:
            return existing
        glove = load_glove_6b_50d(limit=settings.WORD_VECTORS_LIMIT)
        space = existing or register_space(
            name=DEFAULT_WORD_SPACE,
            kind=Kind.WORD,
            model="GloVe 6B 50d",
            dims=glove.dims,
            source=GLOVE_6B_50D_SOURCE,
            checksum=hashlib.sha256(glove.vectors.tobytes()).hexdigest(),
            index_now=False,
        )
        import_words(
            space,
            zip(glove.words, glove.vectors, strict=True),
            tag_vocabulary_size=settings.TAG_VOCABULARY_SIZE,
            progress=progress,
        )
        finish_building(space)
    return space


# --- Catalogue items -----------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSpaces:
    image: EmbeddingSpace
    meaning: EmbeddingSpace
    joint: EmbeddingSpace

    def all(self) -> list[EmbeddingSpace]:
        return [self.image, self.meaning, self.joint]


def ensure_image_spaces(encoder: ImageEncoder) -> ImageSpaces:
    word_space = selectors.active_space(Kind.WORD) or ensure_default_word_space()
    image = register_space(name=encoder.name, kind=Kind.IMAGE, model=encoder.name, dims=encoder.feature_dims)
    meaning = register_space(
        name=f"{encoder.name}/wordnet", kind=Kind.MEANING, model=f"WordNet mass over {encoder.name}", dims=MASS_DIMS
    )
    joint = register_space(
        name=f"conse/{encoder.name}/{word_space.name}",
        kind=Kind.JOINT,
        model=f"ConSE top-{settings.CONSE_TOP_T} over {encoder.name}",
        dims=word_space.dims,
        word_space=word_space,
    )
    return ImageSpaces(image=image, meaning=meaning, joint=joint)


@dataclass(frozen=True)
class Annotations:
    classes: list[dict]
    tags: list[dict]


def index_images(image_ids: list[int], pictures: list[PILImage.Image]) -> dict[int, Annotations]:
    """Embed a batch of item pictures in every space of the current encoder, replacing any
    earlier vectors of those spaces, and return the classes and tags to show on each item."""
    encoder = current_encoder()
    spaces = ensure_image_spaces(encoder)
    encoding = encoder.encode(pictures)
    word_space = spaces.joint.word_space
    joint = conse_vectors(encoding.logits, selectors.class_vectors(word_space), settings.CONSE_TOP_T)
    meaning = wordnet_mass(softmax(encoding.logits))
    rows = []
    for row, image_id in enumerate(image_ids):
        rows += [
            ImageEmbedding(image_id=image_id, space=spaces.image, embedding=encoding.features[row]),
            ImageEmbedding(image_id=image_id, space=spaces.meaning, embedding=meaning[row]),
            ImageEmbedding(image_id=image_id, space=spaces.joint, embedding=joint[row]),
        ]
    with transaction.atomic():
        ImageEmbedding.objects.filter(image_id__in=image_ids, space__in=spaces.all()).delete()
        ImageEmbedding.objects.bulk_create(rows)
    return {
        image_id: Annotations(
            classes=[
                {"index": index, "label": CLASS_NAMES[index], "probability": round(probability, 4)}
                for index, probability in top_classes(encoding.logits[row], k=5)
            ],
            tags=[
                {"word": word, "score": round(score, 4)}
                for word, score in selectors.nearest_words(
                    word_space, joint[row], k=settings.TAGS_PER_IMAGE, tags_only=True
                )
            ]
            if np.any(joint[row])
            else [],
        )
        for row, image_id in enumerate(image_ids)
    }
