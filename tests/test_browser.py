"""The site in a real Chromium (Playwright), served by a live server over committed rows."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageOps
from playwright.sync_api import Page, expect
from skimage import data

from tests.conftest import jpeg, log_in_to_admin, png_bytes

pytestmark = pytest.mark.browser

SCREENSHOTS = settings.BASE_DIR / ".local" / "screenshots"


def first_card(page: Page):
    return page.locator("#results .card").first


def test_browse_to_an_item_and_more_like_this(page: Page, site, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(site.url)
    expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()
    expect(page.locator(".grid .card")).to_have_count(4)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "home.png"), full_page=True)

    page.get_by_role("link", name=chelsea.title).first.click()
    expect(page.get_by_role("heading", name=chelsea.title, level=1)).to_be_visible()
    expect(page.locator(".chips.tags .chip").first).to_be_visible()
    # The similar items load lazily (htmx) into the item page.
    expect(page.locator(".similar-preview .card")).to_have_count(3)
    page.screenshot(path=str(SCREENSHOTS / "item.png"), full_page=True)

    page.get_by_role("link", name="More like this").click()
    expect(page).to_have_url(f"{site.url}/search/similar/{chelsea.pk}/")
    expect(page.locator("#results .card")).to_have_count(3)
    expect(page.locator(f'#results .card[data-image-id="{chelsea.pk}"]')).to_have_count(0)
    page.get_by_role("link", name=re.compile(chelsea.classes[0]["label"])).first.click()
    expect(page.locator("#results .notice")).to_contain_text(chelsea.classes[0]["label"])
    page.screenshot(path=str(SCREENSHOTS / "similar.png"), full_page=True)


def shown(page: Page, container: str) -> list[tuple[str, str]]:
    cards = page.locator(f"{container} .card")
    return [(card.get_attribute("data-image-id"), card.locator(".score").inner_text()) for card in cards.all()]


def test_switching_how_items_are_compared_on_an_item_page(page: Page, site, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    page.goto(f"{site.url}{chelsea.get_absolute_url()}")
    preview = page.locator(".similar-preview")
    expect(preview.locator(".card")).to_have_count(3)
    expect(preview.locator('.similarity-choice [aria-current="true"]')).to_have_text("Both")
    both = shown(page, ".similar-preview")

    preview.get_by_role("link", name="Looks like").click()  # htmx swaps the preview in place
    expect(preview.locator('.similarity-choice [aria-current="true"]')).to_have_text("Looks like")
    expect(page).to_have_url(f"{site.url}{chelsea.get_absolute_url()}")
    looks = shown(page, ".similar-preview")
    preview.get_by_role("link", name="Same kind of thing").click()
    expect(preview.locator('.similarity-choice [aria-current="true"]')).to_have_text("Same kind of thing")
    kind = shown(page, ".similar-preview")
    assert len({tuple(both), tuple(looks), tuple(kind)}) == 3, (both, looks, kind)  # each mode ranks differently
    page.screenshot(path=str(SCREENSHOTS / "similarity.png"), full_page=True)


def test_header_search_box_finds_the_cat(page: Page, site, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(site.url)
    box = page.get_by_role("combobox", name="Search images with words")
    box.fill("cat")
    box.press("Enter")
    expect(first_card(page)).to_have_attribute("data-image-id", str(chelsea.pk))
    expect(first_card(page)).to_contain_text(chelsea.title)
    expect(box).to_have_value("cat")
    page.screenshot(path=str(SCREENSHOTS / "search.png"), full_page=True)

    # Typing on the search page updates the results in place (htmx) and the address.
    words = page.get_by_role("searchbox", name="Words", exact=True)
    words.fill("coffee")
    expect(first_card(page)).to_have_attribute("data-image-id", str(demo_catalogue["coffee"].pk))
    expect(page).to_have_url(re.compile(r"/search/\?q=coffee"))


def test_search_box_suggests_as_you_type_and_respells(page: Page, site, demo_catalogue) -> None:
    page.goto(site.url)
    box = page.get_by_role("combobox", name="Search images with words")
    box.press_sequentially("oce", delay=60)  # typed, so that htmx sees input events
    suggestions = page.locator("#site-suggestions option")
    expect(suggestions.first).to_be_attached()
    assert "ocean" in [option.get_attribute("value") for option in suggestions.all()]

    box.fill("coffe")
    box.press("Enter")  # respelled and searched, with the words as typed one click away
    expect(page.locator(".did-you-mean")).to_contain_text("Showing results for coffee")
    expect(first_card(page)).to_have_attribute("data-image-id", str(demo_catalogue["coffee"].pk))
    page.locator(".did-you-mean a").click()
    offer = page.locator(".did-you-mean a")
    expect(offer).to_have_text("coffee")  # as typed: offered, not searched
    offer.click()
    expect(first_card(page)).to_have_attribute("data-image-id", str(demo_catalogue["coffee"].pk))
    page.screenshot(path=str(SCREENSHOTS / "did-you-mean.png"), full_page=True)


def test_search_by_uploading_a_photo(page: Page, site, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    page.goto(f"{site.url}/search/photo/")
    picture = ImageOps.mirror(PILImage.fromarray(data.chelsea()))
    width, height = picture.size
    cropped = picture.crop((width // 10, height // 10, width - width // 10, height - height // 12))
    page.set_input_files("input[name=file]", {"name": "mine.jpg", "mimeType": "image/jpeg", "buffer": jpeg(cropped)})
    page.get_by_role("button", name="Search", exact=True).last.click()
    expect(first_card(page)).to_have_attribute("data-image-id", str(chelsea.pk))
    page.screenshot(path=str(SCREENSHOTS / "photo.png"), full_page=True)

    page.set_input_files("input[name=file]", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"})
    page.get_by_role("button", name="Search", exact=True).last.click()
    expect(page.get_by_role("alert")).to_contain_text("not an image")


def test_admin_uploads_an_image_that_the_worker_makes_searchable(
    page: Page, site, committed_db, staff_user, celery_worker, wait_until_settled
) -> None:
    from catalog.models import Image

    log_in_to_admin(page, site.url, "/admin/catalog/image/upload/")
    page.set_input_files(
        "input[name=files]", {"name": "my-cat.png", "mimeType": "image/png", "buffer": png_bytes(data.chelsea())}
    )
    page.get_by_label("New category").fill("Pets")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("processing has started")).to_be_visible()

    image = wait_until_settled(Image.objects.get(title="my cat"))
    assert image.status == "ready", image.error

    page.goto(f"{site.url}/search/?q=cat")
    expect(first_card(page)).to_have_attribute("data-image-id", str(image.pk))
    expect(first_card(page)).to_contain_text("my cat")
