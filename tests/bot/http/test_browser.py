"""The moderator app in a real browser: headless Chromium (the system's, Debian package `chromium`)
driven by Playwright. Log in, filter the history, open a job, hide an image, find the action in the
audit log; then the history on a phone-sized screen. Screenshots of each step are kept under pytest's
tmp folder (the path is printed) to look at when the test fails."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api

from bot.http import create_app
from bot.http.accounts import add_moderator
from bot.http.settings import HttpSettings
from storage.db import Database
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.types import QueueLimits
from tests.storage.fixtures import submission

from .conftest import PASSWORD, finish
from .live import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no system Chromium at /usr/bin/chromium (apt-get install chromium)")


@pytest.fixture
def server(sqlite_db: Database, store: ImageStore) -> Iterator[str]:
    """Two finished jobs and a moderator, served on a real port with the production cookie settings."""
    queue = JobQueue(sqlite_db, store, QueueLimits())
    for prompt, place in (("HELLO WORLD", "blog-a"), ("GOODBYE MOON", "blog-b")):
        queue.submit(submission(prompt, place=place))
        finish(sqlite_db, store)
    add_moderator(sqlite_db, "mia", PASSWORD)
    app = create_app(None, sqlite_db, images=store, http=HttpSettings())  # Secure cookies: Chromium keeps them on 127.0.0.1
    with LiveServer(app) as live:
        yield live.base_url


@pytest.fixture
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


def test_log_in_filter_open_hide_and_audit(server: str, browser: sync_api.Browser, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    print(f"screenshots in {shots}")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    expect = sync_api.expect

    page.goto(f"{server}/mod/history")  # not logged in: the login form, which comes back here
    page.get_by_label("Name").fill("mia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/mod/history$"))
    expect(page.locator("a.job-link")).to_have_count(2)
    page.screenshot(path=shots / "1-history.png", full_page=True)

    page.get_by_label("Search").fill("goodbye")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("a.job-link")).to_have_count(1)
    expect(page.locator("pre.prompt")).to_have_text("GOODBYE MOON")
    page.screenshot(path=shots / "2-filtered.png", full_page=True)

    page.locator("a.job-link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("succeeded")
    candidates = page.locator("figure.candidate")
    expect(candidates).to_have_count(4)
    assert page.locator("figure.candidate img").first.evaluate("img => img.naturalWidth") > 0  # the image really loads
    page.screenshot(path=shots / "3-job.png", full_page=True)

    winner = page.locator("figure.candidate.chosen").first
    sha = winner.get_attribute("data-sha")
    winner.get_by_placeholder("reason").fill("not for the feed")
    winner.get_by_role("button", name="Hide").click()
    hidden = page.locator(f'figure.candidate[data-sha="{sha}"]')
    expect(hidden).to_have_class(re.compile("hidden-image"))
    expect(hidden.get_by_role("button", name="Unhide")).to_be_visible()
    page.screenshot(path=shots / "4-hidden.png", full_page=True)

    page.get_by_role("link", name="Audit log").click()
    row = page.locator("table.audit tbody tr").first
    expect(row.locator("td.action")).to_have_text("hide_image")
    expect(row.locator("td.target")).to_contain_text(sha)
    expect(row).to_contain_text("mia")
    expect(row).to_contain_text("not for the feed")
    page.screenshot(path=shots / "5-audit.png", full_page=True)


def test_history_fits_a_phone_screen(server: str, browser: sync_api.Browser, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=3)
    page.goto(f"{server}/mod/login")
    page.get_by_label("Name").fill("mia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    for path in ("/mod/history", "/mod/jobs/1", "/mod/audit", "/mod/"):
        page.goto(server + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow} px on a phone"
        page.screenshot(path=tmp_path / f"phone{path.replace('/', '-')}.png", full_page=True)
