"""The catalogue foundation: uploads, processing, commands, pages and production settings.

Integration tests use the real servers: the admin upload goes through a real Celery worker
process. Plain `django_db` tests run in a rolled-back transaction, where `on_commit` never fires,
so nothing they create is queued; their files go to a temporary media folder.
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.urls import reverse
from PIL import Image as PILImage
from skimage import data

from catalog import services
from catalog.models import Category, Image
from ingest import pipeline, tasks
from ml.images import InvalidImage, open_image, thumbnail_jpeg
from tests.conftest import BASE_DIR, png_bytes

UPLOAD_URL = "admin:catalog_image_upload"
CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat"}


def random_png(seed: int, size: tuple[int, int] = (40, 32)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return png_bytes(pixels)


def chelsea_png() -> bytes:
    return png_bytes(data.chelsea())


def upload(name: str, content: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


# --- Admin upload ---------------------------------------------------------------------------


def test_staff_upload_is_processed_by_the_worker(
    client, committed_db, staff_user, celery_worker, wait_until_settled
) -> None:
    login = client.post(
        reverse("admin:login"),
        {"username": "staff", "password": "correct horse battery", "next": reverse("admin:index")},
    )
    assert login.status_code == 302, "staff login failed"
    # Twice chelsea's size, so that the thumbnail has to shrink it.
    picture = PILImage.fromarray(data.chelsea()).resize((902, 600), PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")

    response = client.post(
        reverse(UPLOAD_URL),
        {"files": upload("chelsea.png", buffer.getvalue()), "new_category": "Animals", "title": "Chelsea"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:catalog_image_changelist")
    image = Image.objects.get()
    try:
        assert image.status in {Image.Status.PENDING, Image.Status.PROCESSING}  # the worker takes seconds
        assert (image.title, image.category.name, image.uploaded_by) == ("Chelsea", "Animals", staff_user)

        wait_until_settled(image)

        assert image.status == Image.Status.READY, image.error
        assert (image.width, image.height) == (902, 600)
        assert image.thumbnail and default_storage.exists(image.thumbnail.name)
        with default_storage.open(image.thumbnail.name) as handle:
            thumbnail = PILImage.open(handle)
            assert thumbnail.format == "JPEG"
            assert max(thumbnail.size) <= 480 and max(thumbnail.size) >= 400
        assert image.classes and image.tags
        assert {c["label"] for c in image.classes[:3]} & CAT_CLASSES
        assert image.embeddings.count() == 3  # image features, meaning, word space
    finally:
        for stored in (image.original, image.thumbnail):
            if stored:
                stored.delete(save=False)


@pytest.mark.django_db
def test_upload_of_a_duplicate_links_to_the_existing_item(admin_client, media) -> None:
    category = Category.objects.create(name="Animals", slug="animals")
    existing = services.create_image(data=chelsea_png(), filename="chelsea.png", category=category)

    response = admin_client.post(
        reverse(UPLOAD_URL), {"files": upload("again.png", chelsea_png()), "category": category.pk}
    )

    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["files"])
    assert "again.png" in errors and "already in the catalogue" in errors
    assert f'<a href="{existing.get_absolute_url()}">' in response.content.decode()
    assert Image.objects.count() == 1


@pytest.mark.django_db
def test_upload_of_a_text_file_named_jpg_is_refused(admin_client, media) -> None:
    category = Category.objects.create(name="Animals", slug="animals")

    response = admin_client.post(
        reverse(UPLOAD_URL),
        {"files": upload("notes.jpg", b"just some text, not a photo\n", "image/jpeg"), "category": category.pk},
    )

    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["files"])
    assert "notes.jpg" in errors and "not an image in a format we accept" in errors
    assert "not an image in a format we accept" in response.content.decode()
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_upload_needs_a_category(admin_client, media) -> None:
    response = admin_client.post(reverse(UPLOAD_URL), {"files": upload("a.png", random_png(1))})

    assert response.status_code == 200
    assert "Choose a category or name a new one." in response.content.decode()
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_upload_of_several_files_creates_several_items(admin_client, media) -> None:
    category = Category.objects.create(name="Misc", slug="misc")
    files = [upload("first_photo.png", random_png(1)), upload("second-photo.png", random_png(2))]

    response = admin_client.post(reverse(UPLOAD_URL), {"files": files, "category": category.pk, "title": "Ignored"})

    assert response.status_code == 302
    images = Image.objects.order_by("title")
    assert [image.title for image in images] == ["first photo", "second photo"]  # titles from file names
    assert all(image.category == category and image.status == Image.Status.PENDING for image in images)
    assert all(image.original and default_storage.exists(image.original.name) for image in images)


# --- Processing failures ------------------------------------------------------------------


@pytest.mark.django_db
def test_corrupted_original_fails_its_item_only(word_space, media) -> None:
    category = Category.objects.create(name="Food", slug="food")
    good = services.create_image(data=chelsea_png(), filename="chelsea.png", category=category)
    coffee = png_bytes(data.coffee())
    bad = services.create_image(data=coffee, filename="coffee.png", category=category)
    Path(bad.original.path).write_bytes(coffee[: len(coffee) // 2])  # damaged on disk after upload

    pipeline.process_images([bad.pk, good.pk], run="test")

    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.status == Image.Status.FAILED
    assert "damaged or incomplete" in bad.error
    assert not bad.embeddings.exists()
    assert good.status == Image.Status.READY and good.embeddings.count() == 3


@pytest.mark.django_db
def test_task_fails_items_at_once_on_a_non_transient_error(monkeypatch, media) -> None:
    category = Category.objects.create(name="Food", slug="food")
    image = services.create_image(data=random_png(3), filename="x.png", category=category)
    calls = []

    def broken(image_ids, **kwargs):
        calls.append(image_ids)
        raise ValueError("the model exploded")

    monkeypatch.setattr(pipeline, "process_images", broken)

    result = tasks.process_images.apply(args=[[image.pk]])

    assert result.state == "FAILURE"
    assert calls == [[image.pk]]  # no retries for errors that would only repeat
    image.refresh_from_db()
    assert image.status == Image.Status.FAILED
    assert image.error == "Processing failed: the model exploded"


@pytest.mark.django_db
def test_task_does_not_fail_ready_items(monkeypatch, media) -> None:
    category = Category.objects.create(name="Food", slug="food")
    image = services.create_image(data=random_png(4), filename="x.png", category=category)
    Image.objects.filter(pk=image.pk).update(status=Image.Status.READY)

    def broken(image_ids, **kwargs):
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(pipeline, "process_images", broken)
    monkeypatch.setattr(tasks.process_images, "max_retries", 0)

    assert tasks.process_images.apply(args=[[image.pk]]).state == "FAILURE"
    image.refresh_from_db()
    assert image.status == Image.Status.READY and image.error == ""  # still searchable


# --- Opening images -----------------------------------------------------------------------


def test_open_image_applies_exif_orientation() -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buffer = io.BytesIO()
    PILImage.new("RGB", (60, 20), "red").save(buffer, format="JPEG", exif=exif.tobytes())

    picture = open_image(buffer.getvalue())

    assert picture.size == (20, 60)
    assert picture.mode == "RGB"


def test_open_image_converts_palette_and_alpha_to_rgb_on_white() -> None:
    rgba = PILImage.new("RGBA", (10, 10), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # transparent
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    picture = open_image(buffer.getvalue())
    assert picture.mode == "RGB"
    assert picture.getpixel((0, 0)) == (255, 255, 255)
    assert picture.getpixel((5, 5)) == (255, 0, 0)

    palette = PILImage.new("P", (10, 10), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", transparency=0)
    picture = open_image(buffer.getvalue())
    assert picture.mode == "RGB" and picture.getpixel((3, 3)) == (0, 0, 255)

    grey = open_image(png_bytes(data.camera()))
    assert grey.mode == "RGB" and grey.size == (512, 512)


def test_open_image_refuses_oversized_and_empty_files() -> None:
    with pytest.raises(InvalidImage, match=r"too large \(451x300 pixels; the limit is 0 megapixels\)"):
        open_image(chelsea_png(), max_pixels=100_000)
    assert open_image(chelsea_png(), max_pixels=451 * 300).size == (451, 300)
    with pytest.raises(InvalidImage, match="The file is empty"):
        open_image(b"")
    with pytest.raises(InvalidImage, match="damaged or incomplete"):
        open_image(chelsea_png()[:5000])


def test_thumbnail_keeps_aspect_ratio() -> None:
    picture = PILImage.new("RGB", (1000, 500), "green")
    thumbnail = PILImage.open(io.BytesIO(thumbnail_jpeg(picture)))
    assert thumbnail.format == "JPEG" and thumbnail.size == (480, 240)


# --- import_images ------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_images_from_a_folder_per_category(tmp_path: Path, media) -> None:
    root = tmp_path / "photos"
    (root / "Animals").mkdir(parents=True)
    (root / "Food").mkdir()
    (root / "Animals" / "cat_one.png").write_bytes(random_png(10))
    (root / "Animals" / "cat_two.png").write_bytes(random_png(11))
    (root / "Food" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "Food" / "coffee.png").write_bytes(random_png(12))  # after the broken file
    (root / "Food" / "notes.txt").write_text("ignored: not an image suffix")
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command("import_images", str(root), stdout=stdout, stderr=stderr)

    by_category = {c.name: sorted(c.images.values_list("title", flat=True)) for c in Category.objects.all()}
    assert by_category == {"Animals": ["cat one", "cat two"], "Food": ["coffee"]}
    assert "broken.jpg" in stderr.getvalue() and "not an image" in stderr.getvalue()
    assert "Imported 3 image(s) into 2 categories; 0 already present, 1 skipped" in stdout.getvalue()

    call_command("import_images", str(root), stdout=stdout, stderr=io.StringIO())  # again: nothing new
    assert Image.objects.count() == 3
    assert "Imported 0 image(s) into 2 categories; 3 already present" in stdout.getvalue()


@pytest.mark.django_db
def test_import_images_with_a_labels_file(tmp_path: Path, media) -> None:
    for seed, name in enumerate(["a.png", "b.png", "c.png"]):
        (tmp_path / name).write_bytes(random_png(20 + seed))
    labels = tmp_path / "labels.csv"
    labels.write_text("file,kind,other\na.png,Dogs,x\nb.png,Cats,y\nc.png,Dogs,z\n")

    call_command("import_images", str(tmp_path), "--labels", str(labels), "--column", "kind", stdout=io.StringIO())

    assert sorted(Image.objects.values_list("title", "category__name")) == [("a", "Dogs"), ("b", "Cats"), ("c", "Dogs")]

    with pytest.raises(CommandError, match="no column"):
        call_command("import_images", str(tmp_path), "--labels", str(labels), "--column", "species")
    with pytest.raises(CommandError, match="not a folder"):
        call_command("import_images", str(tmp_path / "missing"))


@pytest.mark.django_db
def test_import_images_reads_titles_and_descriptions_from_named_columns(tmp_path: Path, media) -> None:
    for seed, name in enumerate(["a.png", "b.png"]):
        (tmp_path / name).write_bytes(random_png(30 + seed))
    labels = tmp_path / "captions.csv"
    labels.write_text("file,name,caption\na.png,Snow day,Two dogs run in the snow\nb.png,,\n")

    call_command(
        "import_images", str(tmp_path), "--labels", str(labels), "--title-column", "name",
        "--description-column", "caption", "--unlabelled-category", "other", stdout=io.StringIO(),
    )  # fmt: skip

    # No category column: every row goes to the unlabelled category; an empty title comes from the file name.
    assert sorted(Image.objects.values_list("title", "description", "category__name")) == [
        ("Snow day", "Two dogs run in the snow", "other"),
        ("b", "", "other"),
    ]
    with pytest.raises(CommandError, match="no column"):
        call_command("import_images", str(tmp_path), "--labels", str(labels), "--description-column", "text")
    with pytest.raises(CommandError, match="read the --labels CSV"):
        call_command("import_images", str(tmp_path), "--description-column", "caption")


# --- Pages --------------------------------------------------------------------------------


@pytest.fixture
def shelf(media) -> dict:
    """26 ready items in Animals, 1 in Food, and items that visitors must not see."""
    thumbnail = default_storage.save("thumbnails/shelf.jpg", ContentFile(thumbnail_jpeg(PILImage.new("RGB", (8, 6)))))
    animals = Category.objects.create(name="Animals", slug="animals")
    food = Category.objects.create(name="Food", slug="food")

    def item(n: int, title: str, category: Category, status: str) -> Image:
        return Image(
            title=title,
            category=category,
            original=f"originals/shelf-{n}.png",
            thumbnail=thumbnail,
            sha256=f"{n:064x}",
            status=status,
        )

    items = [item(n, f"Animal {n:02d}", animals, Image.Status.READY) for n in range(26)]
    items += [
        item(100, "Soup", food, Image.Status.READY),
        item(101, "Still pending", animals, Image.Status.PENDING),
        item(102, "Broken upload", food, Image.Status.FAILED),
    ]
    Image.objects.bulk_create(items)
    return {"animals": animals, "food": food, "thumbnail": thumbnail}


@pytest.mark.django_db
def test_home_shows_ready_items_with_thumbnails_in_pages(client, shelf) -> None:
    page1 = client.get(reverse("catalog:home")).content.decode()
    page2 = client.get(reverse("catalog:home") + "?page=2").content.decode()

    thumbnail_src = f'<img src="/media/{shelf["thumbnail"]}"'
    assert page1.count(thumbnail_src) == 24 and page2.count(thumbnail_src) == 3
    assert 'aria-label="Page 1, current"' in page1 and 'rel="next"' in page1 and 'aria-label="Page 2"' in page1
    assert 'aria-label="Page 2, current"' in page2 and 'rel="next"' not in page2
    both = page1 + page2
    assert "Soup" in both and all(f"Animal {n:02d}" in both for n in range(26))
    assert "Still pending" not in both and "Broken upload" not in both


@pytest.mark.django_db
def test_home_filters_by_category(client, shelf) -> None:
    food = client.get(reverse("catalog:home"), {"category": "food"}).content.decode()
    assert "Soup" in food and "Animal 00" not in food and "Broken upload" not in food

    animals = client.get(reverse("catalog:home"), {"category": "animals", "page": 2})
    assert animals.status_code == 200
    assert 'aria-label="Page 2, current"' in animals.content.decode() and "Soup" not in animals.content.decode()
    assert "category=animals&amp;page=1" in animals.content.decode()  # the pager keeps the filter

    assert client.get(reverse("catalog:home"), {"category": "no-such-category"}).status_code == 404


@pytest.mark.django_db
def test_item_page_polls_only_while_processing(admin_client, shelf) -> None:
    """Staff follow an item through its states; visitors see ready items only (next test)."""
    client = admin_client
    pending = Image.objects.get(title="Still pending")
    status_url = pending.get_absolute_url()  # htmx polls the item page for its status part

    page = client.get(pending.get_absolute_url()).content.decode()
    assert f'hx-get="{status_url}"' in page and 'data-status="pending"' in page
    fragment = client.get(status_url, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section id="image-status"') and f'hx-get="{status_url}"' in fragment

    Image.objects.filter(pk=pending.pk).update(status=Image.Status.PROCESSING)
    assert f'hx-get="{status_url}"' in client.get(status_url, HTTP_HX_REQUEST="true").content.decode()

    failed = Image.objects.get(title="Broken upload")
    Image.objects.filter(pk=failed.pk).update(error="The image file is damaged or incomplete (truncated).")
    page = client.get(failed.get_absolute_url()).content.decode()
    assert "every 2s" not in page and 'data-status="failed"' in page
    assert "The image file is damaged or incomplete (truncated)." in page

    assert client.get(reverse("catalog:image-detail", args=[999_999_999])).status_code == 404


@pytest.mark.django_db
def test_pending_and_failed_items_and_their_errors_are_for_staff_only(client, admin_client, shelf) -> None:
    pending = Image.objects.get(title="Still pending")
    failed = Image.objects.get(title="Broken upload")
    Image.objects.filter(pk=failed.pk).update(error="Processing failed: internal detail /srv/x.py line 3")
    for image in (pending, failed):
        for url in (
            image.get_absolute_url(),
            f"/api/images/{image.pk}/",
            reverse("search:similar", args=[image.pk]),
            f"/api/search/similar/{image.pk}/",
        ):
            assert client.get(url).status_code == 404, url
        assert client.get(image.get_absolute_url(), HTTP_HX_REQUEST="true").status_code == 404  # the status part
    assert "internal detail" not in client.get("/api/images/").content.decode()
    staff_view = admin_client.get(f"/api/images/{failed.pk}/").json()
    assert staff_view["status"] == "failed" and "internal detail" in staff_view["error"]
    assert "internal detail" in admin_client.get(failed.get_absolute_url()).content.decode()


@pytest.mark.django_db
def test_ready_item_page_shows_classes_and_tags(client, shelf) -> None:
    ready = Image.objects.get(title="Soup")
    Image.objects.filter(pk=ready.pk).update(
        width=640,
        height=480,
        classes=[{"index": 923, "label": "plate", "probability": 0.61}],
        tags=[{"word": "soup", "score": 0.8}, {"word": "broth", "score": 0.7}],
    )

    page = client.get(ready.get_absolute_url()).content.decode()

    assert "every 2s" not in page and 'data-status="ready"' in page  # no more polling
    assert "640 × 480 px" in page
    assert "plate" in page and "broth" in page


# --- Settings -----------------------------------------------------------------------------


def manage_check(extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # The test settings put DEBUG, SECRET_KEY and SECURE_SSL_REDIRECT in this process's environment, and
    # conftest sets DJANGO_ALLOW_ASYNC_UNSAFE for Playwright; production has none of them.
    dropped = {
        "DEBUG",
        "SECRET_KEY",
        "SECURE_SSL_REDIRECT",
        "ALLOWED_HOSTS",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
        "BEHIND_PROXY",
    }
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", **extra_env})
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check() -> None:
    secret = secrets.token_urlsafe(50)
    assert len(secret) >= 50
    result = manage_check(
        {"DEBUG": "false", "SECRET_KEY": secret, "ALLOWED_HOSTS": "example.com"},
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_need_a_secret_key() -> None:
    result = manage_check({"DEBUG": "false", "ALLOWED_HOSTS": "example.com"})
    assert result.returncode != 0
    assert "ImproperlyConfigured: Set SECRET_KEY" in result.stderr


# --- Demo ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_load_demo_fills_categories_once(word_space, media) -> None:
    out = io.StringIO()
    call_command("load_demo", stdout=out)

    titles = dict(Image.objects.values_list("title", "category__name"))
    assert len(titles) == 9
    assert titles["Chelsea the cat"] == "Animals"
    assert titles["A cup of coffee"] == "Food and drink"
    assert titles["The cameraman"] == titles["Astronaut Eileen Collins"] == "People"
    assert set(titles.values()) == {"Animals", "People", "Food and drink", "Transport", "Science", "Objects"}
    assert all(status == Image.Status.PENDING for status in Image.objects.values_list("status", flat=True))
    assert "Added 9 demo image(s); the catalogue holds 9." in out.getvalue()

    call_command("load_demo", stdout=out)
    assert Image.objects.count() == 9 and Category.objects.count() == 6
    assert "Added 0 demo image(s); the catalogue holds 9." in out.getvalue()
