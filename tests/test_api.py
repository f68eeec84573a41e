"""The JSON API: shapes, authentication, errors. Search quality is in test_search.py."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from skimage import data

from search.modes import Filters
from tests.conftest import png_bytes


@pytest.fixture
def api(demo_catalogue, django_db_blocker) -> Iterator[APIClient]:
    with django_db_blocker.unblock():
        yield APIClient()


def test_openapi_schema_validates(tmp_path) -> None:
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = out.read_text()
    for path in ("/api/search/similar/{id}/", "/api/search/by-photo/", "/api/search/images/", "/api/search/words/"):
        assert path in schema


def test_docs_page(api) -> None:
    assert api.get("/api/docs/").status_code == 200


def test_list_and_detail(api, demo_catalogue) -> None:
    listing = api.get("/api/images/").json()
    assert listing["count"] == 4 and len(listing["results"]) == 4
    animals = api.get("/api/images/", {"category": "animals"}).json()
    assert [item["title"] for item in animals["results"]] == ["Chelsea"]
    detail = api.get(f"/api/images/{demo_catalogue['chelsea'].pk}/").json()
    assert detail["status"] == "ready" and detail["category"] == "Animals"
    assert detail["thumbnail_url"].startswith("http://testserver/media/thumbnails/")
    assert {"word", "score"} <= set(detail["tags"][0]) and {"index", "label", "probability"} <= set(
        detail["classes"][0]
    )
    assert api.get("/api/images/999999/").status_code == 404


def test_upload_needs_a_staff_user(api, demo_catalogue) -> None:
    from django.contrib.auth import get_user_model

    photo = png_bytes(data.camera())
    anonymous = api.post("/api/images/", {"file": io.BytesIO(photo), "category": "People"}, format="multipart")
    assert anonymous.status_code in (401, 403)
    visitor = get_user_model().objects.create_user("visitor", password="x-long-password")
    api.force_authenticate(visitor)
    assert api.post("/api/images/", {"file": io.BytesIO(photo), "category": "x"}, format="multipart").status_code == 403
    staff = get_user_model().objects.create_user("editor", password="x-long-password", is_staff=True)
    token = Token.objects.create(user=staff)
    api.force_authenticate(None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    created = api.post(
        "/api/images/", {"file": io.BytesIO(photo), "category": "people", "title": "Camera man"}, format="multipart"
    )
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "pending"
    duplicate = api.post("/api/images/", {"file": io.BytesIO(photo), "category": "People"}, format="multipart")
    assert duplicate.status_code == 409 and duplicate.json()["existing_id"] == created.json()["id"]
    junk = api.post("/api/images/", {"file": io.BytesIO(b"not an image"), "category": "People"}, format="multipart")
    assert junk.status_code == 400 and "not an image" in junk.json()["detail"]
    from catalog.models import Image

    Image.objects.filter(pk=created.json()["id"]).delete()
    get_user_model().objects.filter(username__in=["visitor", "editor"]).delete()


def test_search_endpoints_shapes_and_errors(api, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    words = api.get("/api/search/images/", {"q": "kitten qwzx", "k": 2}).json()
    # The sentence space embeds every word: nothing is unknown, and the kitten is still found.
    assert words["unknown_words"] == [] and words["results"][0]["id"] == chelsea.pk
    assert {"id", "title", "category", "score", "thumbnail_url", "why"} <= set(words["results"][0])
    similar = api.get(f"/api/search/similar/{chelsea.pk}/", {"k": 2, "category": "food"}).json()
    assert [hit["category"] for hit in similar["results"]] == ["Food"]
    assert api.get("/api/search/images/", {"q": ""}).status_code == 400
    assert api.get("/api/search/images/", {"q": "cat", "k": "many"}).status_code == 400
    assert api.get("/api/search/images/", {"q": "cat", "category": "nope"}).status_code == 400
    assert api.get(f"/api/search/similar/{chelsea.pk}/", {"focus_class": 1000}).status_code == 400
    similar_words = api.get("/api/search/words/", {"q": "sofa", "k": 5}).json()
    assert "couch" in [hit["word"] for hit in similar_words["results"]] and similar_words["unknown_words"] == []
    assert api.get("/api/classes/", {"q": "tabby"}).json() == [{"index": 281, "label": "tabby"}]


def test_search_by_photo_errors(api) -> None:
    assert api.post("/api/search/by-photo/", {}, format="multipart").status_code == 400
    junk = api.post("/api/search/by-photo/", {"file": io.BytesIO(b"GIF89a-broken")}, format="multipart")
    assert junk.status_code == 400 and junk.json()["detail"]


def test_k_is_capped(settings) -> None:
    settings.SEARCH_MAX_K = 7
    assert Filters(k=1000).k == 7 and Filters(k=0).k == 1
