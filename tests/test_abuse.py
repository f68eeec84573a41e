"""Abuse: throttles shared through Redis on every search way in, the client address behind
proxies, request body limits, staff-only writes, CSRF, and media served with safe types."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog.models import Category
from tests.conftest import png_bytes

GENEROUS = "100000/min"


@pytest.fixture
def rates(settings) -> Iterator[Callable[..., None]]:
    """Set throttle rates for one test; every count starts from zero."""

    def set_rates(**scopes: str) -> None:
        rates = {"search": GENEROUS, "photo_search": GENEROUS, "focus_search": GENEROUS, **scopes}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    cache.clear()
    yield set_rates
    cache.clear()


def photo() -> SimpleUploadedFile:
    return SimpleUploadedFile("p.png", png_bytes(np.zeros((8, 8, 3), dtype=np.uint8)))


@pytest.mark.django_db
def test_search_pages_and_api_share_one_throttle_counted_in_redis(client, rates, settings) -> None:
    rates(search="3/min")
    assert client.get("/api/search/images/", {"q": "cat"}).status_code != 429
    assert client.get("/search/", {"q": "cat"}).status_code != 429
    assert client.get("/api/search/words/", {"q": "cat"}).status_code != 429
    page = client.get("/search/words/", {"q": "cat"})  # the fourth search, whichever way it comes
    assert page.status_code == 429 and int(page["Retry-After"]) >= 1
    assert "Too many searches" in page.content.decode()
    api = client.get("/api/search/images/", {"q": "cat"})
    assert api.status_code == 429 and "throttled" in api.json()["detail"].lower()
    # Counted in Redis, so every web process sees the same counts.
    store = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    assert store.keys("*throttle_search_*")


@pytest.mark.django_db
def test_search_by_photo_is_throttled_on_the_page_and_the_api(client, rates) -> None:
    rates(photo_search="2/min")
    assert client.get(reverse("search:photo")).status_code == 200  # showing the form is free
    assert client.post(reverse("search:photo"), {"file": photo()}).status_code != 429
    assert client.post("/api/search/by-photo/", {"file": photo()}).status_code != 429
    assert client.post(reverse("search:photo"), {"file": photo()}).status_code == 429
    assert client.post("/api/search/by-photo/", {"file": photo()}).status_code == 429


@pytest.mark.django_db
def test_focused_search_has_its_own_stricter_throttle(client, rates) -> None:
    rates(focus_search="1/min")
    missing = 999_999_999  # the throttle answers before the item is looked up
    assert client.get(f"/api/search/similar/{missing}/", {"focus_class": 281}).status_code == 404
    assert client.get(f"/search/similar/{missing}/", {"focus_class": 281}).status_code == 429
    assert client.get(f"/api/search/similar/{missing}/", {"focus_class": 281}).status_code == 429
    assert client.get(f"/search/similar/{missing}/").status_code == 404  # unfocused: not this throttle


@pytest.mark.django_db
def test_the_client_address_is_taken_behind_the_configured_proxies(client, rates, settings) -> None:
    rates(search="1/min")
    # No proxy configured: X-Forwarded-For is the client's own words, and ignored.
    assert client.get("/api/search/words/", {"q": "cat"}, HTTP_X_FORWARDED_FOR="1.1.1.1").status_code != 429
    assert client.get("/api/search/words/", {"q": "cat"}, HTTP_X_FORWARDED_FOR="2.2.2.2").status_code == 429

    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # Behind one proxy, the client is the address that proxy appended; what the client wrote before it is not.
    first = client.get("/search/words/", {"q": "cat"}, HTTP_X_FORWARDED_FOR="6.6.6.6, 10.0.0.1")
    assert first.status_code != 429
    spoofed = client.get("/search/words/", {"q": "cat"}, HTTP_X_FORWARDED_FOR="7.7.7.7, 10.0.0.1")
    assert spoofed.status_code == 429
    other = client.get("/search/words/", {"q": "cat"}, HTTP_X_FORWARDED_FOR="10.0.0.2")
    assert other.status_code != 429


@pytest.mark.django_db
def test_request_bodies_over_the_limit_are_refused_unread(client, settings) -> None:
    settings.MAX_REQUEST_BYTES = 10_000
    big = SimpleUploadedFile("big.png", b"\0" * 20_000)
    page = client.post(reverse("search:photo"), {"file": big})
    assert page.status_code == 413 and "larger than the limit" in page.content.decode()
    big.seek(0)
    api = client.post("/api/search/by-photo/", {"file": big})
    assert api.status_code == 413 and "larger than the limit" in api.json()["detail"]
    assert client.post(reverse("search:photo"), {"file": photo()}).status_code != 413


@pytest.mark.django_db
def test_uploads_processing_and_admin_actions_need_staff(client, media) -> None:
    category = Category.objects.create(name="Animals", slug="animals")
    visitor = get_user_model().objects.create_user("visitor", password="x-long-password")
    for who in (None, visitor):
        if who:
            client.force_login(who)
        for url in ("admin:catalog_image_upload", "admin:catalog_image_operations", "admin:catalog_image_changelist"):
            response = client.post(reverse(url), {"files": [photo()], "category": category.pk})
            assert response.status_code == 302 and "/admin/login/" in response["Location"], (who, url)
        api = APIClient()
        if who:
            api.force_authenticate(who)
        assert api.post("/api/images/", {"file": photo(), "category": "x"}).status_code in (401, 403)
        assert api.post("/api/images/1/reprocess/").status_code in (401, 403)


@pytest.mark.django_db
def test_forms_need_their_csrf_token(media) -> None:
    staff = get_user_model().objects.create_superuser("boss", "boss@example.com", "x-long-password")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    category = Category.objects.create(name="Animals", slug="animals")
    upload = browser.post(reverse("admin:catalog_image_upload"), {"files": [photo()], "category": category.pk})
    assert upload.status_code == 403
    assert browser.post(reverse("admin:catalog_image_operations"), {"all": "1"}).status_code == 403
    assert browser.post(reverse("search:photo"), {"file": photo()}).status_code == 403
    # The API with the session cookie needs the token too; an API token does not (no cookie to ride on).
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(staff)
    assert api.post("/api/images/", {"file": photo(), "category": "Animals"}).status_code == 403
    tokened = APIClient(enforce_csrf_checks=True)
    tokened.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    assert tokened.post("/api/images/", {"file": photo(), "category": "Animals"}).status_code == 201


def test_media_is_served_with_safe_types_and_nosniff(client, media: Path) -> None:
    folder = media / "originals"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(png_bytes(np.zeros((4, 4, 3), dtype=np.uint8)))
    (folder / "old-upload.html").write_bytes(b"<script>alert(1)</script>")  # stored before files were renamed
    (folder / "drawing.svg").write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')

    image = client.get("/media/originals/a.png")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    for name in ("old-upload.html", "drawing.svg"):
        response = client.get(f"/media/originals/{name}")
        assert (
            response["Content-Type"] == "application/octet-stream" and response["Content-Disposition"] == "attachment"
        )
    for name in ("a.png", "old-upload.html"):
        assert client.get(f"/media/originals/{name}")["X-Content-Type-Options"] == "nosniff"
