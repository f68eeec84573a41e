"""A float32 space moves to halfvec storage while searches run (`manage.py compact_vectors`)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection, connections

from catalog.models import Category, Image
from search import ranking
from spaces import selectors as spaces_selectors
from spaces import vector_sql
from spaces.models import EmbeddingSpace, ImageEmbedding
from spaces.services import register_space, replace_image_vectors

ITEMS = 1500
DIMS = 1280


def index_names(space: EmbeddingSpace) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE %s", [f"image_embedding_hnsw_space_{space.pk}%"]
        )
        return {name for (name,) in cursor.fetchall()}


def nearest(space: EmbeddingSpace, query: np.ndarray) -> list[tuple[int, float]]:
    hits = ranking.images_by_vectors([ranking.Side(space, query, 1.0)], k=10)
    return [(hit.image.pk, hit.score) for hit in hits]


@pytest.fixture
def float32_space(committed_db):
    """A space as it was before halfvec storage: float32 rows written by the worker's code
    (which stores the halfvec beside them), its float32 index built."""
    space = register_space(
        name="legacy-1280", kind=EmbeddingSpace.Kind.IMAGE, model="random", dims=DIMS, index_now=False
    )
    space.storage = EmbeddingSpace.Storage.FLOAT32
    space.save(update_fields=["storage"])
    category = Category.objects.create(name="Legacy", slug="legacy")
    images = Image.objects.bulk_create(
        [
            Image(
                title=f"item {n}", category=category, original=f"originals/l{n}.jpg", sha256=f"{n:064x}", status="ready"
            )
            for n in range(ITEMS)
        ]
    )
    rng = np.random.default_rng(1)
    vectors = rng.gamma(1.0, 1.0, size=(ITEMS, DIMS)).astype(np.float32)
    replace_image_vectors([image.pk for image in images], {space: vectors})
    with connection.cursor() as cursor:
        cursor.execute(vector_sql.index_sql(space))
    yield space, [image.pk for image in images], vectors
    EmbeddingSpace.objects.filter(pk=space.pk).delete()


def test_a_float32_space_moves_to_halfvec_while_it_serves(float32_space) -> None:
    space, ids, vectors = float32_space
    assert vector_sql.column(space) == "embedding" and index_names(space) == {space.index_names[0]}
    queries = vectors[:20]
    before = [nearest(space, query) for query in queries]

    errors, answers, stop = [], [], threading.Event()

    def search_meanwhile() -> None:
        try:
            while not stop.is_set():
                current = EmbeddingSpace.objects.get(pk=space.pk)  # as a process that re-reads it
                answers.append(len(nearest(current, queries[len(answers) % 20])))
        except Exception as exc:  # noqa: BLE001 - any failure of a search is the finding
            errors.append(exc)
        finally:
            connections.close_all()

    searcher = threading.Thread(target=search_meanwhile)
    searcher.start()
    try:
        call_command("compact_vectors", settle=0.5)
    finally:
        stop.set()
        searcher.join()
    assert not errors and answers and set(answers) == {10}  # every search during the move answered

    space.refresh_from_db()
    assert space.storage == EmbeddingSpace.Storage.FLOAT16 and vector_sql.column(space) == "compact"
    assert index_names(space) == {space.index_name} == {space.index_names[1]}  # the float32 index dropped
    rows = ImageEmbedding.objects.filter(space=space)
    assert rows.count() == ITEMS and not rows.filter(embedding__isnull=False).exists()  # float32 cleared
    after = [nearest(space, query) for query in queries]
    for old, new in zip(before, after, strict=True):
        assert [pk for pk, _ in old][:5] == [pk for pk, _ in new][:5]
        np.testing.assert_allclose([score for _, score in old], [score for _, score in new], atol=2e-3)
    stored = spaces_selectors.vectors_of(space, ids[:3])
    np.testing.assert_allclose(np.stack([stored[pk] for pk in ids[:3]]), vectors[:3], rtol=1e-3)

    with connection.cursor() as cursor:  # searches can use the halfvec index (small tables rightly sort)
        sql, params = ranking.nearest_images_sql(space, queries[0], k=10)
        cursor.execute("SET enable_seqscan = off; SET enable_sort = off")
        cursor.execute(f"EXPLAIN (COSTS OFF) {sql}", params)
        plan = [row[0] for row in cursor.fetchall() if "Index" in row[0]]
        cursor.execute("RESET enable_seqscan; RESET enable_sort")
    assert any(f"Index Scan using {space.index_name}" in line for line in plan), plan

    call_command("compact_vectors", settle=0)  # again: nothing to do
    assert index_names(space) == {space.index_name}
