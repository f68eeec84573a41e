"""Spelling help, as-you-type suggestions, and "Matched on" reasons that are the item's own,
through the pages and the API over the demo catalogue in the sentence space."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from catalog.models import Image
from catalog.services import refresh_search_documents
from search import selectors
from spaces import selectors as spaces_selectors
from spaces.models import EmbeddingSpace

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(demo_catalogue, django_db_blocker) -> Iterator[APIClient]:
    with django_db_blocker.unblock():
        yield APIClient()


def word_space() -> EmbeddingSpace:
    return spaces_selectors.active_space(EmbeddingSpace.Kind.JOINT).word_space


@pytest.mark.parametrize(
    ("typed", "meant"), [("dgo", "dog"), ("bycicle", "bicycle"), ("ocaen", "ocean"), ("hrose", "horse")]
)
def test_common_misspellings_are_respelled(demo_catalogue, typed: str, meant: str) -> None:
    assert selectors.respelled(word_space(), typed, [typed]) == meant


def test_a_known_word_is_left_alone(demo_catalogue) -> None:
    assert selectors.respelled(word_space(), "dog catt", []) is None


def test_a_misspelled_query_shows_results_for_the_respelled_words(client, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    page = client.get("/search/", {"q": "catt"})
    html = page.content.decode()
    assert page.status_code == 200
    assert re.search(r"Showing results for <strong>cat</strong>", html)
    assert 'href="/search/?q=catt&amp;as_typed=on"' in html  # the words as typed, one click away
    assert re.search(rf'data-image-id="{chelsea.pk}"', html)  # the cat, found by the respelled word
    as_typed = client.get("/search/", {"q": "catt", "as_typed": "on"}).content.decode()
    assert "Showing results for" not in as_typed and "Did you mean" in as_typed


def test_the_api_says_what_it_searched(api, demo_catalogue) -> None:
    body = api.get("/api/search/images/", {"q": "catt"}).json()
    assert body["searched_for"] == "cat" and body["did_you_mean"] is None
    first = body["results"][0]
    assert first["id"] == demo_catalogue["chelsea"].pk and "meaning" in first["matched"]
    typed = api.get("/api/search/images/", {"q": "catt", "as_typed": "true"}).json()
    assert typed["searched_for"] is None and typed["did_you_mean"] == "cat"


def test_weighted_queries_are_offered_a_respelling_not_given_one(api, demo_catalogue) -> None:
    body = api.get("/api/search/images/", {"q": "2:catt -dog"}).json()
    assert body["searched_for"] is None and body["did_you_mean"] == "2:cat -dog"


def test_suggestions_put_common_picture_words_first(client, demo_catalogue) -> None:
    def options(prefix: str) -> list[str]:
        return re.findall(r'<option value="([^"]*)"', client.get("/search/suggest/", {"q": prefix}).content.decode())

    assert "dog" in options("do")[:3]
    assert options("sof")[0] == "sofa"
    assert "Chelsea" in options("chel")  # titles too


def test_matched_on_shows_the_items_own_words(api, demo_catalogue) -> None:
    """A reason is the item's own: a title word the query used, or a tag close to the query."""
    chelsea = demo_catalogue["chelsea"]
    hits = api.get("/api/search/images/", {"q": "chelsea"}).json()["results"]
    assert hits[0]["id"] == chelsea.pk and hits[0]["why"][0] == "chelsea"  # its title


def test_a_stop_word_is_no_reason(api, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    Image.objects.filter(pk=chelsea.pk).update(title="A cat on the sofa")
    refresh_search_documents(image_ids=[chelsea.pk])
    try:
        hits = api.get("/api/search/images/", {"q": "a sofa"}).json()["results"]
    finally:
        Image.objects.filter(pk=chelsea.pk).update(title=chelsea.title)
        refresh_search_documents(image_ids=[chelsea.pk])
    found = next(hit for hit in hits if hit["id"] == chelsea.pk)
    assert found["why"][0] == "sofa" and "a" not in found["why"] and found["text_match"]
    cats = api.get("/api/search/images/", {"q": "cat", "match": "semantic"}).json()["results"]
    assert "cat" in cats[0]["why"]  # a tag of its own
    for hit in cats[1:]:  # the rocket, the astronaut, the coffee: no cat tag to show
        assert "cat" not in hit["why"], hit
