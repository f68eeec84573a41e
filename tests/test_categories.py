"""Every way of typing a category name maps to one category (a test per trick), through the API
upload, the admin upload and the category admin, with no 5xx."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from catalog import services
from catalog.models import Category, Image
from catalog.names import name_key
from tests.test_faults import random_png

# (existing name, the same name typed another way)
TRICKS = {
    "Kelvin sign": ("probe-k", "probe-\u212a"),
    "dotted capital I": ("probe-i", "probe-\u0130"),
    "decomposed accent (NFD)": ("caf\u00e9", "cafe\u0301"),
    "case": ("Cats", "cATS"),
    "sharp s": ("strasse", "STRAßE"),
    "fullwidth letters": ("cat", "\uff43\uff41\uff54"),
    "ligature": ("fish", "\ufb01sh"),
    "spaces": ("sea lions", "  sea   lions "),
}


@pytest.mark.parametrize("trick", TRICKS)
def test_name_key_maps_each_trick_to_one_key(trick: str) -> None:
    existing, typed = TRICKS[trick]
    assert name_key(typed) == name_key(existing)


def test_different_names_keep_different_keys() -> None:
    assert len({name_key(name) for name in ["cafe", "café", "probe-k", "probe-i", "probe-ı"]}) == 5


@pytest.mark.django_db
@pytest.mark.parametrize("trick", TRICKS)
def test_an_upload_naming_a_category_another_way_joins_it(trick: str, admin_user, media) -> None:
    existing, typed = TRICKS[trick]
    category = services.get_or_create_category(existing)
    api = APIClient()
    api.force_authenticate(admin_user)
    response = api.post(
        "/api/images/", {"file": SimpleUploadedFile("a.png", random_png(60)), "category": typed}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert Image.objects.get(pk=response.json()["id"]).category == category
    assert services.get_or_create_category(typed) == category
    assert Category.objects.count() == 1


@pytest.mark.django_db
def test_stored_names_are_composed_and_the_category_admin_refuses_a_second_spelling(admin_client) -> None:
    assert services.get_or_create_category("cafe\u0301").name == "caf\u00e9"
    response = admin_client.post(
        reverse("admin:catalog_category_add"),
        {"name": "CAF\u00c9", "slug": "cafe-2", "description": "", "label_words": "", "trained_on": "on"},
    )
    assert response.status_code == 200 and "same name as the category" in response.content.decode()
    assert Category.objects.count() == 1
