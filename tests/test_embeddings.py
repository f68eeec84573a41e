"""Embeddings: real models on real photos, vectors in PostgreSQL, their indexes and the worker.

Plain `django_db` tests run in a rolled-back transaction: the spaces, indexes and rows they
create vanish afterwards. Their files go to a temporary media folder.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection, transaction
from PIL import Image as PILImage
from skimage import data

from catalog import services
from catalog.models import Category, Image
from ingest import pipeline, tasks
from ml.meaning import MASS_DIMS
from ml.tags import MIN_TAG_PROBABILITY
from ml.torch_encoders import VGG16Encoder
from ml.words import STOP_WORDS, is_tag_word
from search import ranking, selectors
from spaces import selectors as spaces_selectors
from spaces import vector_sql
from spaces.encoders import current_encoder
from spaces.models import EmbeddingSpace, ImageEmbedding, Word
from spaces.services import ensure_image_spaces, register_space
from tests.conftest import png_bytes

Kind = EmbeddingSpace.Kind
State = EmbeddingSpace.State
COFFEE_TAGS = {"coffee", "espresso", "cappuccino", "latte", "mocha", "decaf", "cup", "tea"}


@pytest.fixture
def processed(word_space, media) -> dict[str, Image]:
    """Chelsea and the coffee cup, uploaded and processed in this process with the worker's code."""
    category = services.get_or_create_category("Demo")
    images = {
        name: services.create_image(data=png_bytes(getattr(data, name)()), filename=f"{name}.png", category=category)
        for name in ("chelsea", "coffee")
    }
    pipeline.process_images([image.pk for image in images.values()], run="test")
    for image in images.values():
        image.refresh_from_db()
    return images


def embedding_rows(images) -> list[tuple[int, int, int, int]]:
    """(image, space, row id, dims) of every stored vector of these items."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT image_id, space_id, id, vector_dims(compact) FROM spaces_imageembedding "
            "WHERE image_id = ANY(%s) ORDER BY image_id, space_id",
            [[image.pk for image in images]],
        )
        return cursor.fetchall()


@pytest.mark.django_db
def test_photos_get_their_classes_and_tags(processed) -> None:
    chelsea, coffee = processed["chelsea"], processed["coffee"]
    assert chelsea.status == coffee.status == Image.Status.READY

    chelsea_top3 = [c["label"] for c in chelsea.classes[:3]]
    assert set(chelsea_top3) & {"tabby", "tiger cat", "Egyptian cat"}, chelsea_top3
    first5 = [tag["word"] for tag in chelsea.tags[:5]]
    assert "cat" in first5 and not {"snake", "crocodile"} & set(first5), (
        chelsea.tags
    )  # its kind, not GloVe's neighbours

    coffee_top3 = [c["label"] for c in coffee.classes[:3]]
    assert set(coffee_top3) & {"espresso", "cup"}, coffee_top3
    assert {tag["word"] for tag in coffee.tags} & COFFEE_TAGS, coffee.tags

    # The sure kind first (each breed is a coin toss), then the breeds, then the kind's kind; a
    # tag's score is its probability, so a kind holds at least its names' (cat >= tabby).
    assert first5 == ["cat", "tiger cat", "egyptian cat", "tabby", "feline"], chelsea.tags
    score = {tag["word"]: tag["score"] for tag in chelsea.tags}
    assert score["feline"] >= score["cat"] >= score["tiger cat"] + score["egyptian cat"] + score["tabby"] - 1e-3
    for image in (chelsea, coffee):
        assert len(image.classes) == 5 and 1 <= len(image.tags) <= settings.TAGS_PER_IMAGE
        probabilities = [c["probability"] for c in image.classes]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001
        assert image.tags[0]["score"] >= MIN_TAG_PROBABILITY and all(0 < tag["score"] <= 1 for tag in image.tags)
        assert all(tag["wnid"].startswith("n") for tag in image.tags)
        assert image.width and image.height and image.thumbnail


@pytest.mark.django_db
def test_one_vector_per_active_space_and_reprocessing_replaces_them(processed) -> None:
    images = list(processed.values())
    spaces = ensure_image_spaces(current_encoder())
    active = {
        space.pk: space
        for space in EmbeddingSpace.objects.filter(kind__in=[Kind.IMAGE, Kind.MEANING, Kind.JOINT], state=State.ACTIVE)
    }
    assert {space.pk for space in (spaces.image, spaces.meaning, spaces.joint)} <= set(active)
    assert (spaces.image.dims, spaces.meaning.dims, spaces.joint.dims) == (
        1280,
        MASS_DIMS,
        spaces.joint.word_space.dims,
    )

    before = embedding_rows(images)
    assert sorted((image, space) for image, space, _, _ in before) == sorted(
        (image.pk, space) for image in images for space in active
    )
    assert all(dims == active[space].dims for _, space, _, dims in before)

    pipeline.process_images([image.pk for image in images], run="test", include_ready=True)

    after = embedding_rows(images)
    assert [(image, space, dims) for image, space, _, dims in after] == [
        (image, space, dims) for image, space, _, dims in before
    ]
    assert not {row for _, _, row, _ in before} & {row for _, _, row, _ in after}  # replaced, not added
    for image in images:
        tags = image.tags
        image.refresh_from_db()
        assert image.status == Image.Status.READY and image.tags == tags


def bulk_space(name: str, dims: int, rows: int, value_sql: str = "random()") -> tuple[EmbeddingSpace, Category]:
    """A space with `rows` ready items whose vectors are generated in SQL (never crossing the wire),
    indexed once afterwards, as the word import does."""
    space = register_space(name=name, kind=Kind.IMAGE, model="random", dims=dims, index_now=False)
    category = Category.objects.create(name=name, slug=name)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO catalog_image (title, description, category_id, original, thumbnail, sha256, created_at,"
            " updated_at, status, error, classes, tags)"
            " SELECT 'bulk ' || g, '', %s, 'originals/bulk-' || g || '.jpg', '',"
            " encode(sha256((%s || g)::bytea), 'hex'), now(), now(), 'ready', '', '[]', '[]'"
            " FROM generate_series(1, %s) AS g",
            [category.pk, name, rows],
        )
        cursor.execute(
            f"INSERT INTO spaces_imageembedding (image_id, space_id, {vector_sql.column(space)}) SELECT i.id, %s,"
            f" (SELECT array_agg({value_sql}) FROM generate_series(1, %s) WHERE i.id > 0)::vector::halfvec"
            " FROM catalog_image i WHERE i.category_id = %s",
            [space.pk, dims, category.pk],
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # PostgreSQL won't index with pending FK checks
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute(vector_sql.index_sql(space))
        cursor.execute("ANALYZE spaces_imageembedding")
        cursor.execute("ANALYZE catalog_image")
    return space, category


def stored_vectors(space: EmbeddingSpace) -> tuple[list[int], np.ndarray]:
    vectors = spaces_selectors.vectors_of(space)
    return sorted(vectors), np.stack([vectors[image_id] for image_id in sorted(vectors)])


def production_plan(space: EmbeddingSpace, query: np.ndarray, *, index_only: bool = False, **filters) -> str:
    """EXPLAIN of the very query `nearest_images` runs, with the connection's settings. With
    `index_only`, whether the space's index can serve it at all (small tables rightly sort)."""
    sql, params = ranking.nearest_images_sql(space, query, k=10, **filters)
    with transaction.atomic(), connection.cursor() as cursor:
        if index_only:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def exact_cosine(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    return matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))


@pytest.mark.django_db
def test_nearest_images_uses_the_space_index() -> None:
    # Enough rows that the index (m 24 for image spaces) is cheaper than sorting them all.
    space, category = bulk_space("explain-test-1280", 1280, 8000)
    ids, matrix = stored_vectors(space)
    query = matrix[123]

    for filters in ({}, {"category_id": category.pk}, {"exclude_id": 1, "min_score": 0.5}):
        plan = production_plan(space, query, **filters)
        assert f"Index Scan using {space.index_name}" in plan, (filters, plan)
    hits = ranking.images_by_vectors([ranking.Side(space, query, 1.0)], k=10, category_id=category.pk)
    assert hits[0].image.pk == ids[123] and len(hits) == 10


@pytest.mark.django_db
def test_halfvec_space_between_2000_and_4000_dims() -> None:
    space, _ = bulk_space("halfvec-test-3000", 3000, 1500)
    assert vector_sql.typed(space) == "(compact::halfvec(3000))"
    ids, matrix = stored_vectors(space)
    query = matrix[7]

    assert f"Index Scan using {space.index_name}" in production_plan(space, query, index_only=True)
    hits = ranking.images_by_vectors([ranking.Side(space, query, 1.0)], k=10)
    assert hits[0].image.pk == ids[7] and hits[0].score == pytest.approx(1.0, abs=1e-3)
    scores = exact_cosine(matrix, query)
    for hit in hits:  # halfvec rounds to 16 bits
        assert hit.score == pytest.approx(scores[ids.index(hit.image.pk)], abs=2e-3)


@pytest.mark.django_db
def test_binary_quantised_space_over_4000_dims_reranks_exactly() -> None:
    """VGG16-sized, sparse non-negative vectors like fc7 after ReLU: Hamming candidates from the
    bit index, then the exact cosine re-rank in the same query."""
    space, _ = bulk_space("binary-test-4096", 4096, 1500, value_sql="greatest(random() - 0.6, 0)")
    assert vector_sql.uses_binary_index(space)
    ids, matrix = stored_vectors(space)
    query = matrix[11]

    plan = production_plan(space, query, index_only=True)
    assert f"Index Scan using {space.index_name}" in plan, plan
    hits = ranking.images_by_vectors([ranking.Side(space, query, 1.0)], k=10)
    assert hits[0].image.pk == ids[11] and hits[0].score == pytest.approx(1.0, abs=1e-5)
    scores = exact_cosine(matrix, query)
    returned = [scores[ids.index(hit.image.pk)] for hit in hits]
    np.testing.assert_allclose([hit.score for hit in hits], returned, atol=1e-5)  # exact scores
    assert returned == sorted(returned, reverse=True)  # in exact order


# --- Word spaces --------------------------------------------------------------------------


@pytest.mark.django_db
def test_nearest_words_in_a_glove_space(glove_space) -> None:
    word_space = glove_space
    said = spaces_selectors.word_vectors(word_space, ["said", "qwzxkjvbnm"])
    assert set(said) == {"said"} and said["said"].shape == (word_space.dims,)

    everything = [word for word, _ in selectors.nearest_words(word_space, said["said"], k=10)]
    assert everything[0] == "said" and "told" in everything
    assert set(everything) & STOP_WORDS  # "said" itself, at least

    tags = selectors.nearest_words(word_space, said["said"], k=10, tags_only=True)
    assert len(tags) == 10 and "told" in [word for word, _ in tags]
    assert all(is_tag_word(word) and word not in STOP_WORDS for word, _ in tags)

    excluded = [word for word, _ in selectors.nearest_words(word_space, said["said"], k=5, exclude=["said", "told"])]
    assert "said" not in excluded and "told" not in excluded and len(excluded) == 5


def space_indexes(space: EmbeddingSpace) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE %s", [f"{space.index_name}%"])
        return dict(cursor.fetchall())


TINY_GLOVE = """\
apple 1 0 0 0.1
pear 0.9 0.1 0 0
the 0.9 0.3 0 0.1
ocean 0 0 1 0
sea 0 0.1 0.9 0
apple 0 0 0 1
"""


@pytest.mark.django_db
def test_import_word_vectors_creates_an_indexed_inactive_space(word_space, tmp_path: Path) -> None:
    path = tmp_path / "tiny.4d.txt"
    path.write_text(TINY_GLOVE)
    out = io.StringIO()

    call_command("import_word_vectors", str(path), "--name", "tiny-test", stdout=out)

    space = EmbeddingSpace.objects.get(name="tiny-test")
    assert (space.kind, space.dims, space.state) == (Kind.WORD, 4, State.RETIRED)
    assert spaces_selectors.active_space(Kind.WORD) == word_space
    words = dict(Word.objects.filter(space=space).values_list("word", "is_tag"))
    assert words == {"apple": True, "pear": True, "the": False, "ocean": True, "sea": True}  # first "apple" kept
    indexes = space_indexes(space)
    assert set(indexes) == {space.index_name}  # one per space: tag-only searches filter it
    assert all("USING hnsw" in definition and "vector(4)" in definition for definition in indexes.values())
    assert "5 words" in out.getvalue()

    near_apple = selectors.nearest_words(space, np.array([1, 0, 0, 0], dtype=np.float32), k=3)
    assert [word for word, _ in near_apple][:1] == ["apple"] and "ocean" not in dict(near_apple)
    near_apple_tags = selectors.nearest_words(space, np.array([1, 0, 0, 0], dtype=np.float32), k=3, tags_only=True)
    assert "the" not in dict(near_apple_tags)


@pytest.mark.django_db
def test_word_vector_caches_follow_a_reimport(word_space, tmp_path: Path) -> None:
    """A long-running process caches word vectors; importing the file again must not leave it
    serving the old ones (the cache is keyed by the space's version)."""
    path = tmp_path / "tiny.4d.txt"
    path.write_text(TINY_GLOVE)
    call_command("import_word_vectors", str(path), "--name", "tiny-cache", stdout=io.StringIO())
    space = EmbeddingSpace.objects.get(name="tiny-cache")
    np.testing.assert_allclose(spaces_selectors.word_vectors(space, ["ocean"])["ocean"], [0, 0, 1, 0])

    path.write_text(TINY_GLOVE.replace("ocean 0 0 1 0", "ocean 0 1 0 0"))
    call_command("import_word_vectors", str(path), "--name", "tiny-cache", stdout=io.StringIO())
    space = EmbeddingSpace.objects.get(name="tiny-cache")
    np.testing.assert_allclose(spaces_selectors.word_vectors(space, ["ocean"])["ocean"], [0, 1, 0, 0])


@pytest.mark.django_db
def test_import_word_vectors_activate(word_space, tmp_path: Path) -> None:
    path = tmp_path / "tiny.txt"
    path.write_text(TINY_GLOVE)

    call_command("import_word_vectors", str(path), "--name", "tiny-active", "--activate", stdout=io.StringIO())

    assert spaces_selectors.active_space(Kind.WORD).name == "tiny-active"
    word_space.refresh_from_db()
    assert word_space.state == State.RETIRED


@pytest.mark.django_db
def test_import_word_vectors_rejects_malformed_files(word_space, tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("apple 1 0 0\npear 1 0\n")
    with pytest.raises(CommandError, match=r"bad.txt:2: 2 numbers where earlier lines had 3"):
        call_command("import_word_vectors", str(path), stdout=io.StringIO())
    assert not Word.objects.filter(space__name="bad").exists()

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(CommandError, match="holds no vectors"):
        call_command("import_word_vectors", str(empty), stdout=io.StringIO())
    with pytest.raises(CommandError, match="is not a file"):
        call_command("import_word_vectors", str(tmp_path / "missing.txt"), stdout=io.StringIO())


# --- Wide vectors -------------------------------------------------------------------------


@pytest.mark.django_db
def test_vgg16_sized_space_gets_a_binary_index(media) -> None:
    """VGG16 with randomly initialised weights: its outputs are meaningless, so only the 4096-d
    shapes, their storage and the space's bit_hamming (binary_quantize) index are checked."""
    encoder = VGG16Encoder(random_init=True)
    pictures = [PILImage.fromarray(data.chelsea()), PILImage.fromarray(data.coffee()), PILImage.new("RGB", (64, 48))]
    features = encoder.encode(pictures).features
    assert features.shape == (3, 4096)

    space = register_space(name="vgg16-random-test", kind=Kind.IMAGE, model="vgg16 (random init)", dims=4096)
    assert vector_sql.uses_binary_index(space)
    category = Category.objects.create(name="Wide", slug="wide")
    images = Image.objects.bulk_create(
        Image(title=f"wide {n}", category=category, original=f"originals/wide-{n}.png", sha256=f"{n:064x}")
        for n in range(3)
    )
    ImageEmbedding.objects.bulk_create(
        ImageEmbedding(image=image, space=space, embedding=vector)
        for image, vector in zip(images, features, strict=True)
    )

    stored = ImageEmbedding.objects.filter(space=space).order_by("image_id")
    assert [len(row.embedding) for row in stored] == [4096, 4096, 4096]
    np.testing.assert_allclose(np.stack([row.embedding for row in stored]), features, rtol=1e-6)
    definition = space_indexes(space)[space.index_name]
    assert "USING hnsw" in definition and "bit_hamming_ops" in definition and "binary_quantize" in definition
    assert f"space_id = {space.pk}" in definition


# --- The worker ---------------------------------------------------------------------------


def test_reembed_queues_items_for_the_worker(committed_db, celery_worker, wait_until_settled) -> None:
    category = services.get_or_create_category("Animals")
    cat = services.create_image(data=png_bytes(data.chelsea()), filename="chelsea.png", category=category)
    cup = services.create_image(data=png_bytes(data.coffee()), filename="coffee.png", category=category)
    Image.objects.filter(pk=cup.pk).update(status=Image.Status.FAILED, error="an earlier failure")
    out = io.StringIO()

    try:
        call_command("reembed", stdout=out)

        assert "Queued 2 image(s)." in out.getvalue()
        for image in (cat, cup):
            wait_until_settled(image)
            assert image.status == Image.Status.READY and image.error == ""
            assert image.embeddings.count() == 3 and image.tags
    finally:
        for image in Image.objects.all():
            for stored in (image.original, image.thumbnail):
                if stored:
                    stored.delete(save=False)


@pytest.mark.django_db
def test_reembed_rejects_an_unknown_space() -> None:
    with pytest.raises(CommandError, match="No embedding space named 'nope'"):
        call_command("reembed", "--space", "nope", stdout=io.StringIO())


@pytest.mark.django_db
def test_task_retries_database_errors_then_fails_the_items(monkeypatch, media) -> None:
    category = services.get_or_create_category("Retries")
    image = services.create_image(data=png_bytes(data.coffee()), filename="c.png", category=category)
    calls = []

    def flaky(image_ids, **kwargs):
        calls.append(image_ids)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(pipeline, "process_images", flaky)
    monkeypatch.setattr(tasks.process_images, "max_retries", 2)

    result = tasks.process_images.apply(args=[[image.pk]])  # eager: retries run at once, in order

    assert len(calls) == 3  # the first try and two retries
    assert result.state == "FAILURE" and isinstance(result.result, OperationalError)
    image.refresh_from_db()
    assert image.status == Image.Status.FAILED
    assert image.error == "Processing failed after 2 retries: server closed the connection unexpectedly"


@pytest.mark.django_db
def test_task_recovers_when_a_retry_succeeds(monkeypatch, word_space, media) -> None:
    category = services.get_or_create_category("Retries")
    image = services.create_image(data=png_bytes(data.coffee()), filename="c.png", category=category)
    real = pipeline.process_images
    calls = []

    def fails_once(image_ids, **kwargs):
        calls.append(image_ids)
        if len(calls) == 1:
            raise OperationalError("the database restarted")
        return real(image_ids, **kwargs)

    monkeypatch.setattr(pipeline, "process_images", fails_once)

    result = tasks.process_images.apply(args=[[image.pk]])

    assert result.state == "SUCCESS" and len(calls) == 2
    image.refresh_from_db()
    assert image.status == Image.Status.READY
