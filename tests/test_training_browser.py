"""In a real Chromium: train a word model from the admin (the real Celery worker does the work),
watch its progress, open its report, activate it and roll back."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from tests.conftest import (
    STAFF_PASSWORD,
    add_processed_images,
    clear_catalogue,
    dev_photos,
    log_in_to_admin,
    mark_unlabelled,
    remove_trained_spaces,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def catalogue(django_db_setup, django_db_blocker, word_space) -> Iterator[list]:
    from catalog.models import Category, Image

    with django_db_blocker.unblock():
        clear_catalogue()
        images = add_processed_images(dev_photos({"dog": 8, "bird": 8, "boat": 5}, unlabelled=4))
        mark_unlabelled()
        not_a_word = Category.objects.create(name="zzqx vvkq", slug="zzqx-vvkq")
        Image.objects.create(
            title="odd", category=not_a_word, sha256="f" * 64, original="x.png", status=Image.Status.READY
        )
        get_user_model().objects.create_superuser("trainer", "trainer@example.com", STAFF_PASSWORD)
        yield images
        remove_trained_spaces()
        clear_catalogue()


def test_train_from_the_admin_watch_progress_open_the_report_activate_and_roll_back(
    page: Page, site, catalogue, celery_worker
) -> None:
    from spaces import selectors as spaces_selectors
    from spaces.models import EmbeddingSpace, JointModel

    zero_shot = spaces_selectors.active_space(EmbeddingSpace.Kind.JOINT)
    log_in_to_admin(page, site.url, "/admin/spaces/embeddingspace/", username="trainer")

    # Training starts only once confirmed, after the page says what it will do.
    page.get_by_role("link", name="Train word model…").click()
    expect(page.locator("[data-items]")).to_contain_text("21 ready items")  # dogs, birds, boats; not "other"
    expect(page.locator("[data-labels]")).to_contain_text("3: bird, boat, dog")
    expect(page.locator("[data-seconds]")).to_contain_text("about 5 seconds")
    expect(page.get_by_role("alert")).to_contain_text("zzqx vvkq")  # a category whose name is no word
    assert not JointModel.objects.exists()
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("progress below")).to_be_visible()
    model = JointModel.objects.select_related("space").get()
    row = page.locator("tr", has=page.get_by_text(model.space.name, exact=True))
    # The list refreshes itself while a model trains; the worker reports each phase.
    expect(row.locator(".training")).to_have_attribute("data-state", re.compile("training|filling|evaluating|ready"))
    expect(row.locator(".training")).to_have_attribute("data-state", "ready", timeout=180_000)
    expect(row.locator(".training")).to_contain_text("100%")

    with page.context.expect_page() as report_page:
        row.get_by_role("link", name="Report").click()
    report = report_page.value
    expect(report.get_by_role("heading", name="Evaluation of embedding spaces")).to_be_visible()
    expect(report.get_by_role("heading", name="Training curves")).to_be_visible()
    expect(report.locator("img").first).to_be_visible()
    report.close()

    row.get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option("activate")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_text(f"{model.space.name} is now active.")).to_be_visible()
    assert spaces_selectors.active_space(EmbeddingSpace.Kind.JOINT) == model.space

    page.get_by_role("link", name="Roll back word search…").click()
    expect(page.locator("[data-rollback]")).to_contain_text(f"back to {zero_shot.name}")
    assert spaces_selectors.active_space(EmbeddingSpace.Kind.JOINT) == model.space  # not before the click
    page.get_by_role("button", name="Roll back").click()
    expect(page.get_by_text(f"word search uses {zero_shot.name} again")).to_be_visible()
    assert spaces_selectors.active_space(EmbeddingSpace.Kind.JOINT) == zero_shot
