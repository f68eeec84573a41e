"""Items with a description teach search to find the ones without: the ridge head on every text an
item has, in the sentence space, on a small committed catalogue of Flickr8k dev photos (real
PostgreSQL, the worker's own code); and the pure parts (ridge, text cache, familiarity)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.conftest import add_processed_images, clear_catalogue, flickr_photos, remove_trained_spaces

WORDS = ("snow", "water", "bicycle")


def test_ridge_chooses_its_regularisation_on_the_validation_items() -> None:
    from ml.ridge import fit_ridge, is_linear, project_linear

    rng = np.random.default_rng(0)
    features, meaning = rng.random((120, 30)), rng.random((120, 10))
    truth = rng.normal(size=(40, 8))
    targets = np.hstack([np.sqrt(features), meaning]) @ truth
    validation = rng.random(120) < 0.2
    head = fit_ridge(features, meaning, targets, validation)
    assert is_linear(head.weights) and len(head.validation) == 8
    assert head.validation[head.alpha] == max(head.validation.values())
    predicted = project_linear(features[validation], meaning[validation], head.weights)
    expected = targets[validation] / np.linalg.norm(targets[validation], axis=1, keepdims=True)
    assert (predicted * expected).sum(axis=1).mean() > 0.9


def test_text_embeddings_are_cached_by_text(tmp_path) -> None:
    from ml.text_cache import TextEmbeddings

    embedded: list[str] = []

    def embed(texts):
        embedded.extend(texts)
        return np.array([[len(text), 1.0] for text in texts], dtype=np.float32)

    first = TextEmbeddings(tmp_path, "model", embed).embed(["a dog", "snow", "a dog"])
    again = TextEmbeddings(tmp_path, "model", embed).embed(["snow", "a cat"])  # a new process: from the file
    assert embedded == ["a dog", "snow", "a cat"]
    np.testing.assert_array_equal(first[1], again[0])


def test_the_trained_share_grows_with_the_items_that_used_the_query_words() -> None:
    from ml.familiarity import minimum_items, trained_share, word_counts

    counts = word_counts(["Two dogs run in the snow", "A dog in snow", "A boy on a bicycle"])
    assert counts["dog"] == 2 and counts["snow"] == 2
    assert trained_share("sofa", counts) == 0.0 == trained_share("dog sofa", counts)
    assert 0 < trained_share("bicycle", counts) < trained_share("dogs", counts) < 1
    # A word few of many items used is left to the zero-shot space.
    assert minimum_items(3) < 1 and minimum_items(10_000) == 10
    assert trained_share("dogs", counts, minimum=minimum_items(1500)) == 0.0


@pytest.fixture(scope="module")
def catalogue(django_db_setup, django_db_blocker, word_space) -> Iterator[list[dict]]:
    from catalog.models import Category, Image

    with django_db_blocker.unblock():
        clear_catalogue()
        rows = flickr_photos(WORDS, described=8, undescribed=4)
        images = add_processed_images([(row["path"].read_bytes(), row["file"], "", "other") for row in rows])
        Category.objects.filter(name="other").update(trained_on=False)
        for image, row in zip(images, rows, strict=True):
            Image.objects.filter(pk=image.pk).update(description=row["description"])
            row["image"] = image
        yield rows
        remove_trained_spaces()
        clear_catalogue()


def test_a_ridge_head_learns_the_descriptions_and_finds_undescribed_photos(db_access, catalogue) -> None:
    from learning import services as learning_services
    from learning import training
    from ml.ridge import is_linear
    from search import modes
    from spaces import selectors as spaces_selectors

    model = training.start_training(training.TrainingOptions(holdout=0.25))
    assert model.config["head"] == "ridge" and model.blend == 0.25
    training.run_training(model)
    model.refresh_from_db()
    described = {row["image"].pk for row in catalogue if row["description"]}
    # Items without any text (a file-name title says nothing) are never trained on.
    assert set(model.train_ids) < described and model.training_size == len(described) - 6
    assert is_linear(spaces_selectors.head_weights(model)) and model.metrics["word_counts"]["snow"] >= 4
    assert model.space.image_embeddings.count() == len(catalogue)
    report = model.report.open("rb").read().decode()
    # Evaluated on the words of the held-out items' own text, with what it finds among the undescribed.
    assert "Words of the catalogue's own text" in report and "R-precision" in model.metrics["verdict"]
    assert model.metrics["evaluation"][model.space.name]["text"]["words"] >= 1

    zero_shot = spaces_selectors.active_space(model.space.kind)
    unused = modes.images_for_words("sofa", modes.Filters(k=10), match=modes.Match.SEMANTIC)
    learning_services.switch_to(model.space)
    # A word no description used ranks as the zero-shot space ranks it.
    again = modes.images_for_words("sofa", modes.Filters(k=10), match=modes.Match.SEMANTIC)
    assert [hit.image.pk for hit in again.hits] == [hit.image.pk for hit in unused.hits]
    assert zero_shot != model.space

    undescribed = {row["image"].pk: row for row in catalogue if not row["description"]}
    hits = modes.images_for_words("snow", modes.Filters(k=len(catalogue)), match=modes.Match.SEMANTIC).hits
    found = [undescribed[hit.image.pk]["word"] for hit in hits if hit.image.pk in undescribed][:4]
    assert found.count("snow") >= 3


def test_new_uploads_get_the_text_heads_vector_in_the_worker(db_access, catalogue) -> None:
    from learning import training
    from learning.texts import meaning_space_name
    from ml.embed import head_vectors
    from spaces import selectors as spaces_selectors
    from spaces.models import EmbeddingSpace

    model = training.start_training(training.TrainingOptions())
    training.run_training(model, report=False)
    [row] = flickr_photos(("dog",), described=0, undescribed=1)
    [image] = add_processed_images([(row["path"].read_bytes(), row["file"], "", "other")])
    try:
        others = [
            EmbeddingSpace.objects.get(name=name)
            for name in (
                meaning_space_name(model.image_space),
                EmbeddingSpace.conse_name(model.image_space.name, model.space.word_space),
            )
        ]
        stored = spaces_selectors.stored_vectors(image.pk, [model.image_space, *others, model.space])
        features, meaning, conse = (stored[space.pk][None] for space in (model.image_space, *others))
        expected = head_vectors(features, meaning, conse, spaces_selectors.head_weights(model), model.blend)[0]
        np.testing.assert_allclose(stored[model.space.pk], expected, rtol=1e-3, atol=1e-5)  # stored as halfvec
    finally:
        image.delete()


def test_training_is_due_once_enough_items_are_described(db_access, catalogue, settings) -> None:
    from learning import tasks, training
    from spaces.models import JointModel

    settings.JOINT_AUTO_TRAIN_MIN, settings.JOINT_AUTO_TRAIN_NEW = 100, 5
    assert training.training_due() is None  # 24 described items: too few
    settings.JOINT_AUTO_TRAIN_MIN = 20
    assert "no model yet" in training.training_due()
    settings.JOINT_AUTO_TRAIN = False
    assert tasks.train_when_due() is None and not JointModel.objects.exists()

    model = training.start_training(training.TrainingOptions())
    training.run_training(model, report=False)
    assert training.training_due() is None  # nothing new since that model
