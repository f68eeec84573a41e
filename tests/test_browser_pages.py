"""Paging through search results and the catalogue in a real Chromium, over 30 dog photos."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import add_processed_images, clear_catalogue, dev_photos

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def dogs(django_db_setup, django_db_blocker, word_space) -> Iterator[list]:
    """30 processed dog photos, committed for the module."""
    with django_db_blocker.unblock():
        clear_catalogue()
        yield add_processed_images(dev_photos({"dog": 30}))
        clear_catalogue()


def card_ids(page: Page) -> list[str]:
    return [card.get_attribute("data-image-id") for card in page.locator("#results .card").all()]


def test_paging_through_search_results(page: Page, site, dogs) -> None:
    page.goto(f"{site.url}/search/?q=dog&k=8")
    expect(page.locator("#results .result-count")).to_have_text("Results 1–8, best first")
    first = card_ids(page)
    pager = page.get_by_role("navigation", name="Pages")
    expect(pager.locator('[aria-current="page"]')).to_have_text("1")
    expect(pager.get_by_role("link", name="Page 3", exact=True)).to_be_visible()

    pager.get_by_role("link", name="Next →").click()
    expect(page).to_have_url(re.compile(r"[?&]page=2\b"))
    expect(page.locator("#results .result-count")).to_have_text("Results 9–16, best first")
    second = card_ids(page)
    assert len(second) == 8 and not set(first) & set(second)

    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Page 4", exact=True).click()
    expect(page.locator("#results .result-count")).to_have_text("Results 25–30, best first")
    last = page.get_by_role("navigation", name="Pages")
    expect(last.get_by_role("link", name="Next →")).to_have_count(0)
    expect(last.get_by_role("link", name="← Previous")).to_be_visible()
    everything = first + second + card_ids(page)
    page.goto(f"{site.url}/search/?q=dog&k=8&page=3")
    everything += card_ids(page)
    assert sorted(everything) == sorted(str(dog.pk) for dog in dogs)  # each dog on exactly one page


def test_pages_beyond_the_end_show_the_last_results(page: Page, site, dogs) -> None:
    page.goto(f"{site.url}/search/?q=dog&page=2")  # 24 a page: the second holds the last 6
    expect(page.locator("#results .card")).to_have_count(6)
    page.goto(f"{site.url}/search/?q=dog&page=99")
    expect(page.locator("#results .empty")).to_contain_text("on this page")
    expect(page.get_by_role("link", name="← Previous")).to_have_count(0)


def test_item_page_larger_view_and_steps_through_the_results_seen(page: Page, site, dogs) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{site.url}/search/?q=dog&k=8&page=2")
    shown = card_ids(page)
    page.locator("#results .card > a").nth(1).click()
    expect(page).to_have_url(re.compile(rf"/images/{shown[1]}/$"))
    steps = page.get_by_role("navigation", name="Results")
    expect(steps).to_contain_text("2 of 8")
    steps.get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(rf"/images/{shown[2]}/$"))
    page.keyboard.press("ArrowLeft")  # the arrow keys step too
    expect(page).to_have_url(re.compile(rf"/images/{shown[1]}/$"))
    page.get_by_role("navigation", name="Results").get_by_role("link", name="Previous").click()
    expect(page).to_have_url(re.compile(rf"/images/{shown[0]}/$"))
    expect(page.get_by_role("navigation", name="Results").get_by_role("link", name="Previous")).to_have_count(0)

    expect(page.get_by_role("link", name="Download original")).to_have_attribute("download", "")
    page.get_by_role("button", name="Larger view").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("img")).to_have_js_property("complete", True)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.get_by_role("link", name="← Back to results").click()
    expect(page).to_have_url(f"{site.url}/search/?q=dog&k=8&page=2")
    assert card_ids(page) == shown


def test_an_item_opened_directly_has_no_steps(page: Page, site, dogs) -> None:
    page.goto(f"{site.url}{dogs[0].get_absolute_url()}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Results")).to_have_count(0)
