"""Stored files follow their rows: deleting an item (any path) removes its files once the
deletion commits, the same bytes upload again as `<sha256>.<ext>`, the reconciler sweeps files
no row references, and a storage that refuses writes gives a clear answer (API: JSON 503)."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog import files, services
from catalog.models import Image
from tests.test_faults import random_png


@pytest.fixture
def staff_clients(staff_user) -> tuple[Client, APIClient]:
    admin = Client()
    admin.force_login(staff_user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")
    return admin, api


def media_path(name: str) -> Path:
    return Path(files.storage().path(name))


def test_deleting_an_item_removes_its_files_and_the_same_bytes_upload_again_by_content(
    committed_db, staff_clients, media
) -> None:
    admin, api = staff_clients
    data = random_png(50)
    created = api.post(
        "/api/images/", {"file": SimpleUploadedFile("a.png", data), "category": "Gone"}, format="multipart"
    )
    image = Image.objects.get(pk=created.json()["id"])
    services.mark_ready([services.Processed(image, (32, 24), b"thumbnail", [], [])])  # a thumbnail too
    image.refresh_from_db()
    stored = [image.original.name, image.thumbnail.name]
    assert all(media_path(name).exists() for name in stored)
    assert admin.get(f"/media/{image.original.name}").status_code == 200

    changelist = reverse("admin:catalog_image_changelist")
    response = admin.post(changelist, {"action": "delete_selected", "_selected_action": [image.pk], "post": "yes"})
    assert response.status_code == 302 and not Image.objects.exists()
    assert not any(media_path(name).exists() for name in stored)
    assert admin.get(f"/media/{image.original.name}").status_code == 404

    again = api.post(
        "/api/images/", {"file": SimpleUploadedFile("b.png", data), "category": "Gone"}, format="multipart"
    )
    assert again.status_code == 201, again.content
    name = Image.objects.get(pk=again.json()["id"]).original.name
    assert Path(name).name == f"{hashlib.sha256(data).hexdigest()}.png"


def test_a_deletion_that_rolls_back_keeps_its_files(committed_db, media) -> None:
    image = services.create_image(data=random_png(51), filename="a.png", category=services.get_or_create_category("K"))
    with pytest.raises(RuntimeError), transaction.atomic():
        Image.objects.filter(pk=image.pk).delete()
        raise RuntimeError("the transaction fails")
    assert Image.objects.filter(pk=image.pk).exists() and media_path(image.original.name).exists()


def test_the_sweep_removes_old_files_no_item_references(committed_db, media) -> None:
    kept = services.create_image(data=random_png(52), filename="a.png", category=services.get_or_create_category("S"))
    store = files.storage()
    old_orphan = store.save("originals/2020/01/orphan.png", SimpleUploadedFile("x", b"x"))
    young_orphan = store.save("thumbnails/2020/01/young.jpg", SimpleUploadedFile("y", b"y"))
    an_hour_ago = time.time() - 2 * 3600
    os.utime(media_path(old_orphan), (an_hour_ago, an_hour_ago))
    os.utime(media_path(kept.original.name), (an_hour_ago, an_hour_ago))

    assert files.remove_orphan_files(older_than=timedelta(hours=1)) == [old_orphan]
    assert media_path(kept.original.name).exists() and media_path(young_orphan).exists()
    store.delete(young_orphan)


@pytest.fixture
def storage_refusing_writes(media) -> Path:
    """The originals folder cannot be created: a plain file holds its name (a real OSError from
    the file system, whoever runs the tests; `chattr +i` needs root)."""
    media.mkdir(parents=True)
    (media / "originals").write_text("not a folder")
    return media


@pytest.mark.django_db
def test_a_storage_failure_is_a_json_503_on_the_api_and_a_message_in_the_admin(
    storage_refusing_writes, admin_client
) -> None:
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_user("writer", password="x-long-password", is_staff=True)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    response = api.post(
        "/api/images/", {"file": SimpleUploadedFile("a.png", random_png(53)), "category": "S"}, format="multipart"
    )
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    assert "could not be stored" in response.json()["detail"] and response["Retry-After"].isdigit()

    form = admin_client.post(
        reverse("admin:catalog_image_upload"),
        {"files": [SimpleUploadedFile("b.png", random_png(54))], "new_category": "S"},
    )
    assert form.status_code == 200 and "could not be stored" in " ".join(form.context["form"].errors["files"])
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_two_files_in_one_field_are_refused(admin_user) -> None:
    api = APIClient()
    api.force_authenticate(admin_user)
    two = [SimpleUploadedFile("a.png", random_png(55)), SimpleUploadedFile("b.png", random_png(56))]
    response = api.post("/api/images/", {"file": two, "category": "Two"}, format="multipart")
    assert response.status_code == 400 and "one file per request" in response.json()["detail"]
    assert not Image.objects.exists()
    two = [SimpleUploadedFile("a.png", random_png(55)), SimpleUploadedFile("b.png", random_png(56))]
    photo = api.post("/api/search/by-photo/", {"file": two}, format="multipart")
    assert photo.status_code == 400 and "one photo" in photo.json()["detail"]
