"""Word search beyond vectors: hybrid text + meaning, spelling, suggestions, category navigation."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from django.db import transaction
from rest_framework.test import APIClient

from catalog import services
from catalog.models import Category, Image
from tests.conftest import png_bytes


@pytest.fixture
def api(demo_catalogue, django_db_blocker) -> Iterator[APIClient]:
    with django_db_blocker.unblock():
        yield APIClient()


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [hit["id"] for hit in response.json()["results"]]


def renamed(image: Image, title: str) -> None:
    Image.objects.filter(pk=image.pk).update(title=title)
    services.refresh_search_documents(image_ids=[image.pk])


def test_an_item_whose_title_has_the_word_comes_first_in_hybrid_mode_only(api, demo_catalogue) -> None:
    rocket = demo_catalogue["rocket"]
    semantic_before = ids(api.get("/api/search/images/", {"q": "sofa", "match": "semantic"}))
    with transaction.atomic():
        renamed(rocket, "Leather sofa")

        hybrid = api.get("/api/search/images/", {"q": "sofas"}).json()  # English stemming: sofas -> sofa
        assert hybrid["results"][0]["id"] == rocket.pk and hybrid["results"][0]["text_match"]
        assert hybrid["results"][0]["score"] is not None  # its cosine to the query is still shown
        assert not any(hit["text_match"] for hit in hybrid["results"][1:])
        # Semantic mode is the vectors alone: the same ranking as before the rename.
        assert ids(api.get("/api/search/images/", {"q": "sofa", "match": "semantic"})) == semantic_before
        assert ids(api.get("/api/search/images/", {"q": "sofa", "match": "text"})) == [rocket.pk]
        # A minus word excludes text matches; an unknown word can still match a title.
        assert rocket.pk not in ids(api.get("/api/search/images/", {"q": "sofa -leather", "match": "text"}))
        renamed(rocket, "Qwzxtrek launch")
        assert ids(api.get("/api/search/images/", {"q": "qwzxtrek", "match": "text"})) == [rocket.pk]
        transaction.set_rollback(True)


def test_category_names_and_tags_are_searchable_text(api, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    assert ids(api.get("/api/search/images/", {"q": "animals", "match": "text"})) == [chelsea.pk]
    tag = chelsea.tags[0]["word"]
    assert chelsea.pk in ids(api.get("/api/search/images/", {"q": tag, "match": "text"}))
    with transaction.atomic():
        category = Category.objects.get(pk=chelsea.category_id)
        category.name = "Felines"
        category.save()
        services.refresh_search_documents(category=category)
        assert ids(api.get("/api/search/images/", {"q": "feline", "match": "text"})) == [chelsea.pk]
        transaction.set_rollback(True)


def test_hybrid_keeps_filters_and_reports_bad_modes(api, demo_catalogue) -> None:
    food = api.get("/api/search/images/", {"q": "cat", "category": "food"}).json()["results"]
    assert [hit["category"] for hit in food] == ["Food"]
    assert api.get("/api/search/images/", {"q": "cat", "match": "fuzzy"}).status_code == 400
    strict = api.get("/api/search/images/", {"q": "cat", "min_score": 0.99}).json()["results"]
    assert all(hit["score"] >= 0.99 for hit in strict)


def test_a_misspelled_word_gets_a_did_you_mean(api, client, demo_catalogue) -> None:
    answer = api.get("/api/search/images/", {"q": "catt sofa", "as_typed": "true"}).json()
    # The sentence space embeds every word (no unknown words), yet "catt" is not in its vocabulary.
    assert answer["unknown_words"] == [] and answer["did_you_mean"] == "cat sofa"
    assert api.get("/api/search/images/", {"q": "cat"}).json()["did_you_mean"] is None
    page = client.get("/search/", {"q": "coffe", "as_typed": "on"}).content.decode()
    assert 'Did you mean <a href="/search/?q=coffee">coffee</a>?' in page


def test_suggestions_come_from_categories_titles_and_the_vocabulary(client, demo_catalogue) -> None:
    options = client.get("/search/suggest/", {"q": "Co"}).content.decode()
    assert '<option value="Coffee">' in options  # the item's title
    assert '<option value="could">' not in options  # stop words are not tag words
    vocabulary = client.get("/search/suggest/", {"q": "ocea"}).content.decode()
    assert '<option value="ocean">' in vocabulary
    assert client.get("/search/suggest/", {"q": "t"}).content.decode().strip() == ""  # too short to guess
    assert client.get("/search/suggest/", {"q": "50%_\\"}).status_code == 200  # LIKE wildcards are escaped


@pytest.mark.django_db
def test_home_shows_the_largest_categories_and_finds_the_rest(client, media) -> None:
    for n in range(15):
        category = Category.objects.create(name=f"Kind {n:02d}", slug=f"kind-{n:02d}")
        for copy in range(n % 3 + 1):
            pixels = np.full((4, 4, 3), (n * 10, copy * 40, 7), dtype=np.uint8)
            image = services.create_image(data=png_bytes(pixels), filename="x.png", category=category)
            Image.objects.filter(pk=image.pk).update(status=Image.Status.READY)

    home = client.get("/").content.decode()
    assert home.count('class="chip"') + home.count('class="chip active"') <= 13  # "All" + the 12 largest
    assert "All 15 categories" in home and "Kind 02" in home  # 3 items: among the largest
    found = client.get("/categories/", {"q": "kind 1"}).content.decode()
    assert found.count('class="chip"') == 5 and "Kind 14" in found and "Kind 02" not in found
    partial = client.get("/categories/", {"q": "nothing"}, HTTP_HX_REQUEST="true").content.decode()
    assert "No category" in partial and "<html" not in partial
