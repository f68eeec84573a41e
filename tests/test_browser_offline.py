"""The site with the network unplugged: a real Chromium that may reach only the test server."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]"}


@pytest.fixture
def offline(page: Page) -> list[str]:
    """Abort every request to another host; the list of those that were attempted."""
    blocked: list[str] = []

    def only_local(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    page.route("**/*", only_local)
    return blocked


def test_api_docs_work_offline(page: Page, site, committed_db, offline: list[str]) -> None:
    page.goto(f"{site.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Semantic image catalogue API")
    expect(page.locator(".opblock-summary-path", has_text="/api/search/images/").first).to_be_visible()
    assert offline == []


def test_pages_load_everything_they_need_from_the_site(page: Page, site, demo_catalogue, offline: list[str]) -> None:
    chelsea = demo_catalogue["chelsea"]
    for path in ("/", "/search/?q=cat", chelsea.get_absolute_url(), "/search/photo/", "/search/words/?q=said"):
        page.goto(f"{site.url}{path}")
        expect(page.locator("main h1")).to_be_visible()
    assert page.evaluate("typeof window.htmx") == "object"  # htmx comes from the site's static files
    assert offline == []
