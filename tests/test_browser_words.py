"""Word search as a visitor types it, in a real Chromium: a sentence, a misspelling, suggestions,
tags and "Matched on" on a result card."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_a_sentence_a_misspelling_and_suggestions(page: Page, site, demo_catalogue) -> None:
    chelsea, rocket = demo_catalogue["chelsea"], demo_catalogue["rocket"]
    page.goto(site.url)
    box = page.locator("header input[name=q]")
    box.fill("sof")  # as-you-type suggestions come from the catalogue and the language, common first
    expect(page.locator("datalist option").first).to_have_attribute("value", "sofa")

    box.fill("a rocket on the launch pad")
    box.press("Enter")
    first = page.locator("#results .card").first
    expect(first).to_have_attribute("data-image-id", str(rocket.pk))
    expect(first.locator(".why")).to_contain_text("Matched on")

    box = page.locator("header input[name=q]")
    box.fill("catt")
    box.press("Enter")
    expect(page.locator(".did-you-mean")).to_contain_text("Showing results for cat")
    card = page.locator(f'#results .card[data-image-id="{chelsea.pk}"]')
    expect(card.locator(".why .chip").first).to_have_text("cat")
    page.get_by_role("link", name="catt").click()  # search the words as typed
    expect(page.locator(".did-you-mean")).to_contain_text("Did you mean")

    page.goto(f"{site.url}{chelsea.get_absolute_url()}")
    expect(page.locator(".chips.tags .chip").first).to_contain_text("cat")
