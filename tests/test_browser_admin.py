"""The admin's multi-file upload in a real Chromium: a title per file, and the list's live states."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from skimage import data

from tests.conftest import log_in_to_admin, png_bytes

pytestmark = pytest.mark.browser


def test_upload_several_files_with_a_title_each_and_watch_them_get_ready(
    page: Page, site, committed_db, staff_user, celery_worker
) -> None:
    from catalog.models import Image

    log_in_to_admin(page, site.url, "/admin/catalog/image/upload/")
    files = [
        {"name": "ux-ostrich.png", "mimeType": "image/png", "buffer": png_bytes(data.chelsea())},
        {"name": "997722733_0cb5439472.png", "mimeType": "image/png", "buffer": png_bytes(data.coffee())},
        {"name": "rocket-launch.png", "mimeType": "image/png", "buffer": png_bytes(data.rocket())},
    ]
    page.set_input_files("input[name=files]", files)
    expect(page.get_by_label("Title of ux-ostrich.png")).to_be_visible()
    expect(page.locator(".form-row:has(input[name=title])")).to_be_hidden()  # one title for all: no more
    page.get_by_label("Title of ux-ostrich.png").fill("ux-ostrich")
    page.get_by_label("Title of 997722733_0cb5439472.png").fill("Morning coffee")
    page.get_by_label("New category").fill("Things")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("processing has started")).to_be_visible()

    titles = set(Image.objects.values_list("title", flat=True))
    assert titles == {"ux-ostrich", "Morning coffee", "rocket launch"}  # the third from its file name
    # The list reloads itself until the worker is done: no item is left saying Pending.
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#result_list")).not_to_contain_text("Pending", timeout=120_000)
    expect(page.locator("#result_list")).not_to_contain_text("Processing", timeout=120_000)
    expect(page.locator("#result_list")).to_contain_text("Ready")
