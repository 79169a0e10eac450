"""The campaign page in a real browser (Debian's chromium driven by Playwright): a real
photo chosen in the file input, cropped on the canvas, sent, shown, downloaded; and the
page's message for each refusal."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from admitone.core import jobs
from tests.dp.conftest import Served, photo, served_world

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.committed,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed (.ci/run)"
    ),
]


@pytest.fixture
def browser_page(served: Served) -> Iterator[object]:
    """A fresh Chromium page; console errors (CSP violations included) are collected in
    `page.errors`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            context = browser.new_context(accept_downloads=True)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.errors = errors  # type: ignore[attr-defined]
            yield page
        finally:
            browser.close()


def _expected_errors(errors: list[str]) -> list[str]:
    # A refused generate is logged by the browser as a failed resource load; nothing else
    # (no CSP violation, no script error) may appear.
    return [e for e in errors if "Failed to load resource" not in e]


def test_a_person_makes_downloads_and_shares_a_dp(
    served: Served, browser_page: object, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    page: Page = browser_page  # type: ignore[assignment]
    world = served_world(served)
    page.goto(f"{served.url}/dp/{world.campaign['slug']}")
    expect(page.get_by_role("heading", name=world.campaign["title"])).to_be_visible()
    page.set_input_files(
        "#dp-photo",
        files=[{"name": "me.jpg", "mimeType": "image/jpeg", "buffer": photo(1200, 900)}],
    )
    expect(page.locator("#dp-crop")).to_be_visible()
    page.locator("#dp-zoom").fill("1.5")
    page.get_by_label("Name").fill("Ada Obi")
    page.get_by_label("Show my DP in the campaign's public gallery").check()
    page.get_by_role("button", name="Make my DP").click()
    expect(page.locator("#dp-result")).to_be_visible(timeout=30_000)
    expect(page.locator("#dp-status")).to_have_text("Your DP is ready.")
    width = page.eval_on_selector("#dp-result-image", "img => img.complete && img.naturalWidth")
    assert width == 400
    share_url = page.input_value("#dp-share-url")
    assert "/dp/s/" in share_url
    assert "?ref=" in share_url
    with page.expect_download() as info:
        page.click("#dp-download")
    saved = tmp_path / "dp.jpg"
    info.value.save_as(saved)
    picture = Image.open(io.BytesIO(saved.read_bytes()))
    assert picture.format == "JPEG"
    assert picture.size == (400, 400)
    token = page.evaluate("window.localStorage.getItem('admitone.dp_token')")
    assert token
    jobs.drain(served.db, served.settings)  # the classifier clears it for the gallery
    gallery = httpx.get(
        f"{served.url}/api/v1/public/dp-campaigns/{world.campaign['slug']}/gallery"
    ).json()
    assert len(gallery["items"]) == 1
    assert _expected_errors(page.errors) == []  # type: ignore[attr-defined]


def test_the_page_explains_each_refusal(served: Served, browser_page: object) -> None:
    from playwright.sync_api import Page, expect

    page: Page = browser_page  # type: ignore[assignment]
    world = served_world(served)
    page.goto(f"{served.url}/dp/{world.campaign['slug']}")
    page.get_by_label("Name").fill("Ada")

    page.set_input_files(
        "#dp-photo",
        files=[{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"just some text" * 50}],
    )
    page.get_by_role("button", name="Make my DP").click()
    expect(page.locator("#dp-error")).to_contain_text("not an image we can use")

    big = b"\xff\xd8" + b"\0" * (served.settings.dp.max_upload_bytes + 1)
    page.set_input_files(
        "#dp-photo", files=[{"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": big}]
    )
    expect(page.locator("#dp-error")).to_contain_text("too large")

    httpx.patch(
        f"{served.url}/api/v1/dp-campaigns/{world.campaign['id']}",
        json={"verified_only": True},
        headers=world.headers,
    ).raise_for_status()
    page.reload()
    expect(page.locator("#dp-verified-note")).to_be_visible()
    page.set_input_files(
        "#dp-photo", files=[{"name": "me.jpg", "mimeType": "image/jpeg", "buffer": photo()}]
    )
    page.get_by_label("Name").fill("Ada")
    page.get_by_role("button", name="Make my DP").click()
    expect(page.locator("#dp-error")).to_contain_text("for ticket holders")
    assert _expected_errors(page.errors) == []  # type: ignore[attr-defined]
