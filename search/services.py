"""Writes for search: embedding spaces, word vectors, and the vectors of catalogue items."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from pgvector.psycopg import register_vector
from PIL import Image as PILImage

from ml.conse import conse_vectors, softmax, top_classes
from ml.devise import joint_vectors
from ml.encoding import ImageEncoder
from ml.imagenet import CLASS_NAMES
from ml.meaning import MASS_DIMS, image_tags, meaning_vectors
from ml.words import GLOVE_6B_50D_SOURCE, is_tag_word, load_glove_6b_50d
from search import evaluation, selectors, vectors
from search.encoders import current_encoder
from search.models import EmbeddingSpace, ImageEmbedding, JointModel

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
        active = not has_active and index_now
        space = EmbeddingSpace.objects.create(
            name=name,
            kind=kind,
            model=model,
            dims=dims,
            source=source,
            checksum=checksum,
            word_space=word_space,
            state=State.ACTIVE if active else State.BUILDING,
            activated_at=timezone.now() if active else None,
        )
        if index_now:
            create_space_index(space)
    return space


def create_space_index(space: EmbeddingSpace) -> None:
    with connection.cursor() as cursor:
        for statement in vectors.index_sql(space):
            cursor.execute(statement)


def activate_space(space: EmbeddingSpace) -> None:
    """Make `space` the one searches of its kind use; the previous one is retired, not deleted.
    One transaction: a search sees the old space or the new one, never none."""
    with transaction.atomic():
        EmbeddingSpace.objects.filter(kind=space.kind, state=State.ACTIVE).exclude(pk=space.pk).update(
            state=State.RETIRED
        )
        space.state, space.activated_at = State.ACTIVE, timezone.now()
        space.save(update_fields=["state", "activated_at"])


class SpaceRefused(Exception):
    """A switch or a deletion that is not allowed; the message says why."""


def switch_to(space: EmbeddingSpace, *, require_improvement: bool | None = None) -> None:
    """Activate a filled space (the admin's and `train_joint_model --activate`'s cut-over).

    With JOINT_ACTIVATION_REQUIRES_IMPROVEMENT, a joint space must beat the active one on the
    evaluation of the catalogue (mean R-precision of the label words); SpaceRefused says why not.
    """
    if space.state == State.ACTIVE:
        return
    if space.state == State.BUILDING:
        raise SpaceRefused(f"{space.name} is still filling; it can be activated once all its vectors are in.")
    if require_improvement is None:
        require_improvement = settings.JOINT_ACTIVATION_REQUIRES_IMPROVEMENT
    active = selectors.active_space(space.kind)
    if require_improvement and space.kind == Kind.JOINT and active is not None:
        verdict = evaluation.compare_on_catalogue(space, active)
        if not verdict.better:
            raise SpaceRefused(f"{space.name} does not beat {active.name} on evaluate: {verdict.reason}")
    activate_space(space)


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
                for name in (space.index_name, f"{space.index_name}_tags"):
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
        name=EmbeddingSpace.conse_name(encoder.name, word_space),
        kind=Kind.JOINT,
        model=f"ConSE top-{settings.CONSE_TOP_T} over {encoder.name}",
        dims=word_space.dims,
        word_space=word_space,
    )
    return ImageSpaces(image=image, meaning=meaning, joint=joint)


def describe(word_space: EmbeddingSpace, probabilities: np.ndarray, joint: np.ndarray) -> list[dict]:
    """An image's tags: the names of its likely classes and their kinds (tabby -> cat, feline),
    scored by probability, then, up to TAGS_PER_IMAGE, the vocabulary words nearest its
    word-space vector, scored below the last class tag (that score times their cosine)."""
    tags = image_tags(probabilities, k=settings.TAGS_PER_IMAGE)
    missing = settings.TAGS_PER_IMAGE - len(tags)
    if missing > 0 and np.any(joint):
        floor = tags[-1][1] if tags else 1.0
        known = {word for word, _ in tags}
        nearest = selectors.nearest_tags(word_space, joint, k=missing, exclude=known)
        tags += [(word, floor * score) for word, score in nearest]
    return [{"word": word, "score": round(score, 4)} for word, score in tags]


@dataclass(frozen=True)
class Annotations:
    classes: list[dict]
    tags: list[dict]


def replace_image_vectors(image_ids: list[int], vectors_by_space: dict[EmbeddingSpace, np.ndarray]) -> None:
    """Store row i of each space's vectors as image_ids[i]'s vector there, replacing any earlier one.
    Binary COPY: an INSERT of text literals spent more time printing floats than storing them."""
    with transaction.atomic(), connection.cursor() as cursor:
        ImageEmbedding.objects.filter(image_id__in=image_ids, space__in=list(vectors_by_space)).delete()
        raw = cursor.connection
        register_vector(raw)
        table = ImageEmbedding._meta.db_table
        with raw.cursor().copy(f"COPY {table} (image_id, space_id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int8", "vector"])
            for space, space_vectors in vectors_by_space.items():
                for row, image_id in enumerate(image_ids):
                    copy.write_row((image_id, space.pk, space_vectors[row]))


def index_images(image_ids: list[int], pictures: list[PILImage.Image]) -> dict[int, Annotations]:
    """Embed a batch of item pictures in every space of the current encoder, replacing any
    earlier vectors of those spaces, and return the classes and tags to show on each item."""
    encoder = current_encoder()
    spaces = ensure_image_spaces(encoder)
    encoding = encoder.encode(pictures)
    word_space = spaces.joint.word_space
    joint = conse_vectors(encoding.logits, selectors.class_vectors(word_space), settings.CONSE_TOP_T)
    probabilities = softmax(encoding.logits)
    meaning = meaning_vectors(probabilities)
    vectors_by_space = {spaces.image: encoding.features, spaces.meaning: meaning, spaces.joint: joint}
    # Trained spaces over these features, filling or filled, active or kept for a rollback.
    for model in selectors.trained_models(spaces.image, word_space):
        weights = selectors.head_weights(model)
        vectors_by_space[model.space] = joint_vectors(encoding.features, weights, conse=joint, blend=model.blend)
    replace_image_vectors(image_ids, vectors_by_space)
    return {
        image_id: Annotations(
            classes=[
                {"index": index, "label": CLASS_NAMES[index], "probability": round(probability, 4)}
                for index, probability in top_classes(encoding.logits[row], k=5)
            ],
            tags=describe(word_space, probabilities[row], joint[row]),
        )
        for row, image_id in enumerate(image_ids)
    }
