"""In a real Chromium, with the real Celery worker: photos come in with and without descriptions
(`import_images --description-column`), an admin trains a word model from the admin, reads its
report, makes it active, and a word that only the descriptions used finds undescribed photos."""

from __future__ import annotations

import csv
import hashlib
import re
import time
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import Page, expect

from tests.conftest import (
    FLICKR_DATASET,
    STAFF_PASSWORD,
    clear_catalogue,
    flickr_photos,
    log_in_to_admin,
    remove_trained_spaces,
)

pytestmark = pytest.mark.browser

WORDS = ("snow", "water", "bicycle")


@pytest.fixture(scope="module")
def photos(django_db_setup, django_db_blocker, word_space, celery_worker, tmp_path_factory) -> Iterator[list[dict]]:
    """36 Flickr photos: 8 per word described by a caption (category "described"), 4 per word
    with no text at all (category "undescribed"); neither category is trained on."""
    from catalog.models import Category, Image

    with django_db_blocker.unblock():
        clear_catalogue()
        rows = flickr_photos(WORDS, described=8, undescribed=4)
        labels = tmp_path_factory.mktemp("labels") / "photos.csv"
        with labels.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "group", "description"])
            for row in rows:
                writer.writerow([row["file"], "described" if row["description"] else "undescribed", row["description"]])
        call_command(
            "import_images", str(FLICKR_DATASET), "--labels", str(labels), "--column", "group",
            "--description-column", "description",
        )  # fmt: skip
        Category.objects.filter(name__in=["described", "undescribed"]).update(trained_on=False)
        deadline = time.monotonic() + 240
        while Image.objects.exclude(status=Image.Status.READY).exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert Image.objects.filter(status=Image.Status.READY).count() == len(rows)
        get_user_model().objects.create_superuser("curator", "curator@example.com", STAFF_PASSWORD)
        yield rows
        remove_trained_spaces()
        clear_catalogue()
        get_user_model().objects.filter(username="curator").delete()


def test_descriptions_teach_search_to_find_undescribed_photos(page: Page, site, photos) -> None:
    from catalog.models import Category, Image
    from spaces.models import JointModel

    by_id = {image.pk: image for image in Image.objects.all()}
    # Flickr file names are ids, which make no title: an item is known by its bytes' digest.
    words = {hashlib.sha256((FLICKR_DATASET / row["file"]).read_bytes()).hexdigest(): row["word"] for row in photos}
    word_of = {pk: words[image.sha256] for pk, image in by_id.items()}
    log_in_to_admin(page, site.url, "/admin/spaces/embeddingspace/", username="curator")

    page.get_by_role("link", name="Train word model…").click()
    expect(page.locator("[data-described]")).to_contain_text("24 ready items")  # 8 per word
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("progress below")).to_be_visible()
    model = JointModel.objects.select_related("space").get()
    row = page.locator("tr", has=page.get_by_text(model.space.name, exact=True))
    expect(row.locator(".training")).to_have_attribute("data-state", "ready", timeout=180_000)

    with page.context.expect_page() as report_page:
        row.get_by_role("link", name="Report").click()
    report = report_page.value
    expect(report.get_by_role("heading", name="Words of the catalogue's own text")).to_be_visible()
    report.close()

    row.get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option("activate")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_text(f"{model.space.name} is now active.")).to_be_visible()

    undescribed = Category.objects.get(name="undescribed")
    page.goto(f"{site.url}/search/?q=snow&category={undescribed.slug}&match=semantic")
    cards = page.locator(".card")
    expect(cards.first).to_be_visible()
    ids = [int(card.get_attribute("data-image-id")) for card in cards.all()[:4]]
    # No undescribed photo has any text: the trained space found the snow in them.
    assert not any(by_id[pk].description for pk in ids)
    assert [word_of[pk] for pk in ids].count("snow") >= 3, [word_of[pk] for pk in ids]
    expect(page).to_have_url(re.compile(r"q=snow"))
