"""The sentence space as the default word space: how a query becomes a vector there, the class
prototypes images are embedded with, similar words from its vocabulary, GloVe beside it."""

from __future__ import annotations

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from ml.sentences import SENTENCE_DIMS
from ml.vectors import unit_rows
from search.parsing import has_syntax
from search.query_vectors import word_query
from spaces import selectors
from spaces.encoders import sentence_encoder
from spaces.models import EmbeddingSpace
from spaces.services import SENTENCE_WORD_SPACE, ensure_default_word_space


def embedded(text: str) -> np.ndarray:
    return sentence_encoder().embed([text])[0]


@pytest.mark.django_db
def test_the_default_word_space_is_the_sentence_space(word_space) -> None:
    assert ensure_default_word_space() == word_space
    assert word_space.name == SENTENCE_WORD_SPACE and word_space.encodes_sentences
    # Built and usable (other tests switch word spaces and switch back, so not asserted active here).
    assert word_space.dims == SENTENCE_DIMS and word_space.state != EmbeddingSpace.State.BUILDING
    assert settings.WORD_SPACE == "sentence"
    # Its rows are a vocabulary of frequent tag words, embedded once (cached under MODEL_DIR).
    assert word_space.words.count() == settings.SENTENCE_VOCABULARY_SIZE
    assert list(settings.MODEL_DIR.glob("vocabulary-*.npy"))
    assert not word_space.words.filter(word="the").exists()


@pytest.mark.django_db
def test_a_plain_query_is_one_sentence_and_weighted_terms_add_up(word_space) -> None:
    phrase = word_query("Children playing in the  snow", word_space)
    np.testing.assert_allclose(phrase.vector, embedded("children playing in the snow"), atol=1e-5)
    assert phrase.unknown_words == [] and not has_syntax("children playing in the snow")
    # Not the mean of its words: a phrase is read as a phrase.
    words = unit_rows(sum(embedded(word) for word in ["children", "playing", "in", "the", "snow"]))
    assert float(phrase.vector @ words) < 0.99

    weighted = word_query("2:cat -dog", word_space)
    np.testing.assert_allclose(weighted.vector, unit_rows(2 * embedded("cat") - embedded("dog")), atol=1e-5)
    assert float(weighted.vector @ embedded("dog")) < float(word_query("cat", word_space).vector @ embedded("dog"))
    plus = word_query("cat +sofa", word_space)
    np.testing.assert_allclose(plus.vector, unit_rows(embedded("cat") + embedded("sofa")), atol=1e-5)
    # A word the vocabulary lacks is embedded all the same, and offered to spelling help.
    typo = word_query("qwzxkj sofa", word_space)
    assert typo.vector is not None and typo.unknown_words == [] and typo.unfamiliar_words == ["qwzxkj"]


@pytest.mark.django_db
def test_images_enter_the_sentence_space_through_class_prototypes(word_space) -> None:
    prototypes = selectors.class_vectors(word_space)
    assert prototypes.shape == (1000, SENTENCE_DIMS)
    np.testing.assert_allclose(np.linalg.norm(prototypes, axis=1), 1.0, atol=1e-4)
    assert list(settings.MODEL_DIR.glob("prototypes-*.npy"))
    # A sorrel (class 339) is nearer "a horse" than a tabby (281) is.
    horse = embedded("a horse")
    assert float(prototypes[339] @ horse) > float(prototypes[281] @ horse) + 0.1
    assert selectors.conse_top_t(word_space) == settings.SENTENCE_CONSE_TOP_T == 20
    assert selectors.word_meaning_weight(word_space) == settings.SENTENCE_MEANING_WEIGHT


@pytest.mark.django_db
def test_similar_words_come_from_the_sentence_vocabulary(word_space) -> None:
    answer = APIClient().get("/api/search/words/", {"q": "horse"}).json()
    words = [entry["word"] for entry in answer["results"]]
    assert "horse" not in words and "horses" in words[:3], words
    assert {"horseback", "equestrian"} & set(words), words
    sofa = [entry["word"] for entry in APIClient().get("/api/search/words/", {"q": "sofa"}).json()["results"]]
    assert "couch" in sofa[:5], sofa


@pytest.mark.django_db
def test_glove_stays_a_word_space_one_can_import(glove_space, word_space) -> None:
    call_command("import_word_vectors", "--glove")
    glove_space.refresh_from_db()
    assert not glove_space.encodes_sentences and glove_space.state == EmbeddingSpace.State.RETIRED
    query = word_query("catt sofa", glove_space)
    assert query.unknown_words == ["catt"] and query.vector is not None
    assert selectors.conse_top_t(glove_space) == settings.CONSE_TOP_T
    assert selectors.word_meaning_weight(glove_space) == settings.WORD_MEANING_WEIGHT


@pytest.mark.django_db
def test_activate_space_command_switches_and_refuses_an_empty_space(glove_space, word_space) -> None:
    with pytest.raises(CommandError, match="No embedding space"):
        call_command("activate_space", "no-such-space")
    empty = EmbeddingSpace.objects.create(name="empty-joint", kind=EmbeddingSpace.Kind.JOINT, model="m", dims=3)
    with pytest.raises(CommandError, match="reembed --space empty-joint"):
        call_command("activate_space", empty.name)
    call_command("activate_space", glove_space.name)  # rolled back with the test's transaction
    assert selectors.active_space(EmbeddingSpace.Kind.WORD) == glove_space
