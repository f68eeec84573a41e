"""Search by photo in a real Chromium: the chosen photo's preview, a pasted photo, a drawn region."""

from __future__ import annotations

import base64

import pytest
from PIL import Image as PILImage
from playwright.sync_api import Page, expect
from skimage import data

from tests.conftest import jpeg

pytestmark = pytest.mark.browser


def first_card(page: Page):
    return page.locator("#results .card").first


def side_by_side() -> PILImage.Image:
    """The rocket on the left half, the cat on the right."""
    rocket = PILImage.fromarray(data.rocket()).resize((320, 240))
    cat = PILImage.fromarray(data.chelsea()).resize((320, 240))
    both = PILImage.new("RGB", (640, 240))
    both.paste(rocket, (0, 0))
    both.paste(cat, (320, 0))
    return both


def paste(page: Page, picture: bytes) -> None:
    """What Ctrl+V with a copied image does: a paste event whose clipboard holds an image file."""
    page.evaluate(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const clipboard = new DataTransfer();
            clipboard.items.add(new File([bytes], "pasted.jpg", {type: "image/jpeg"}));
            document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: clipboard, bubbles: true}));
        }""",
        base64.b64encode(picture).decode(),
    )


def draw_box(page: Page, left: float, top: float, right: float, bottom: float) -> None:
    photo = page.locator("[data-preview-image]")
    photo.evaluate("element => element.scrollIntoView({block: 'center'})")  # wholly on screen
    area = photo.bounding_box()
    page.mouse.move(area["x"] + left * area["width"], area["y"] + top * area["height"])
    page.mouse.down()
    page.mouse.move(area["x"] + (left + right) / 2 * area["width"], area["y"] + (top + bottom) / 2 * area["height"])
    page.mouse.move(area["x"] + right * area["width"], area["y"] + bottom * area["height"])
    page.mouse.up()


def test_a_pasted_photo_is_previewed_and_searched_with_blend_by_default(page: Page, site, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    page.goto(f"{site.url}/search/photo/")
    expect(page.get_by_role("radio", name="Both")).to_be_checked()
    expect(page.locator(".drop-zone")).to_contain_text("HEIC")  # the formats the server accepts
    paste(page, jpeg(PILImage.fromarray(data.chelsea())))
    expect(page.get_by_role("img", name="The photo you chose")).to_be_visible()
    page.get_by_role("button", name="Search", exact=True).last.click()
    expect(first_card(page)).to_have_attribute("data-image-id", str(chelsea.pk))
    expect(page.get_by_role("img", name="Your photo", exact=True)).to_be_visible()  # beside its results
    expect(page.get_by_role("img", name="The photo you chose")).to_be_visible()  # the form kept it
    expect(page.get_by_role("radio", name="Both")).to_be_checked()


def test_a_region_drawn_on_the_photo_is_what_is_searched(page: Page, site, demo_catalogue) -> None:
    page.goto(f"{site.url}/search/photo/")
    page.set_input_files(
        "input[name=file]", {"name": "both.jpg", "mimeType": "image/jpeg", "buffer": jpeg(side_by_side())}
    )
    search = page.get_by_role("button", name="Search", exact=True).last

    draw_box(page, 0.53, 0.05, 0.97, 0.95)  # the cat
    expect(page.get_by_role("status").filter(has_text="the part in the box")).to_be_visible()
    search.click()
    expect(first_card(page)).to_have_attribute("data-image-id", str(demo_catalogue["chelsea"].pk))
    expect(page.get_by_role("img", name="The part of your photo searched by")).to_be_visible()

    draw_box(page, 0.03, 0.05, 0.47, 0.95)  # the rocket
    search.click()
    expect(first_card(page)).to_have_attribute("data-image-id", str(demo_catalogue["rocket"].pk))

    page.get_by_role("button", name="Use the whole photo").click()
    expect(page.locator("input[name=box]")).to_have_value("")


def test_focus_on_a_word_from_the_suggestions(page: Page, site, demo_catalogue) -> None:
    chelsea = demo_catalogue["chelsea"]
    page.goto(f"{site.url}/search/similar/{chelsea.pk}/")
    focus = page.get_by_role("combobox", name="Focus on")
    focus.press_sequentially("ca", delay=60)  # typed, so that htmx asks for suggestions
    options = page.locator("#class-options option")
    expect(options.first).to_be_attached()
    values = [option.get_attribute("value") for option in options.all()]
    assert "cat" in values and not any("(" in value for value in values), values  # readable, no numbers
    focus.fill("cat")
    page.get_by_role("button", name="Update").click()
    expect(page.locator("#results .notice")).to_contain_text("the likeliest “cat” in the photo")
    expect(page.get_by_role("combobox", name="Focus on")).to_have_value("cat")
    expect(first_card(page)).to_be_visible()


def test_a_region_can_be_chosen_from_the_keyboard(page: Page, site, demo_catalogue) -> None:
    page.goto(f"{site.url}/search/photo/")
    page.set_input_files(
        "input[name=file]", {"name": "both.jpg", "mimeType": "image/jpeg", "buffer": jpeg(side_by_side())}
    )
    page.get_by_role("group", name="Your photo: draw a box on it").focus()
    page.keyboard.press("Enter")  # a box in the middle: 0.25 to 0.75
    for _ in range(4):
        page.keyboard.press("ArrowRight")  # moved right to 0.45 .. 0.95
    page.keyboard.press("Shift+ArrowUp")
    expect(page.locator("input[name=box]")).to_have_value("0.4500,0.2500,0.9500,0.7000")
    page.get_by_role("button", name="Search", exact=True).last.click()
    expect(first_card(page)).to_have_attribute("data-image-id", str(demo_catalogue["chelsea"].pk))
