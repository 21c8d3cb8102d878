"""Browser tests: the real site in headless Chromium, driven by Playwright's sync API.

The site runs in pytest-django's `live_server` thread; Chromium is Debian's, never one that
Playwright downloads. Each test gets its own browser context (its own cookies), and every
request a page makes to a host other than the live server is recorded and blocked.
"""

import os
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from playwright.sync_api import BrowserContext, Page, sync_playwright

from articles.models import Article

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
# Fail fast: a page of this site answers in milliseconds.
TIMEOUT_MS = 10_000

ARTICLE_URL = "/articles/rejection-while-depressed/"


def chromium_path():
    """PSYWEB_CHROMIUM if set, else the first Debian Chromium found; None if there is none."""
    configured = os.environ.get("PSYWEB_CHROMIUM")
    candidates = (configured,) if configured else CHROMIUM_CANDIDATES
    return next((path for path in candidates if Path(path).is_file()), None)


@pytest.fixture(scope="package", autouse=True)
def _orm_beside_playwright():
    """Allow Django's ORM in the test thread while Playwright's event loop runs there.

    Playwright's sync API keeps an asyncio loop running in this thread for as long as it is
    started, and Django refuses ORM calls wherever a loop runs (SynchronousOnlyOperation).
    This package's browser is started and stopped inside this fixture, so the rest of the
    suite runs with the loop gone and Django's check in force.
    """
    name = "DJANGO_ALLOW_ASYNC_UNSAFE"
    previous = os.environ.get(name)
    os.environ[name] = "true"
    yield
    if previous is None:
        del os.environ[name]
    else:
        os.environ[name] = previous


@pytest.fixture(scope="package")
def browser(_orm_beside_playwright):
    """One headless Chromium for all browser tests.

    Package scope rather than session scope: while Playwright runs, an asyncio loop runs in the
    main thread, which would break every non-browser test collected after this package.
    """
    path = chromium_path()
    if path is None:
        where = os.environ.get("PSYWEB_CHROMIUM") or " or ".join(CHROMIUM_CANDIDATES)
        message = (
            f"No Chromium at {where}: install Debian's (`apt-get install chromium`) or set "
            "PSYWEB_CHROMIUM to a Chromium binary. Playwright's own browser download is not used."
        )
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"{message} REQUIRE_BROWSER is set, so this fails.", pytrace=False)
        pytest.skip(message)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
    except BaseException:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


@dataclass
class Visitor:
    """One person's browser: a context (cookies of its own), its page, and what it recorded."""

    context: BrowserContext
    page: Page
    third_party_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def _is_site_or_local(url, site_origin):
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return f"{parts.scheme}://{parts.netloc}" == site_origin


@pytest.fixture
def new_visitor(browser, live_server):
    """Open a new visitor (a fresh browser context) on the live server; closed after the test."""
    contexts = []
    site = live_server.url

    def open_visitor(**options):
        """`options` go to Playwright's `new_context` (viewport, is_mobile …)."""
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(base_url=site, **options)
        contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)

        def block_third_parties(route):
            if _is_site_or_local(route.request.url, site):
                route.continue_()
            else:
                route.abort("blockedbyclient")

        context.route("**/*", block_third_parties)
        visitor = Visitor(context=context, page=context.new_page())

        def record_request(request):
            if not _is_site_or_local(request.url, site):
                visitor.third_party_requests.append(request.url)

        def record_console(message):
            if message.type == "error":
                visitor.console_errors.append(f"{message.text} ({message.location.get('url')})")

        visitor.page.on("request", record_request)
        visitor.page.on("console", record_console)
        visitor.page.on("pageerror", lambda err: visitor.console_errors.append(f"uncaught: {err}"))
        return visitor

    yield open_visitor
    for context in contexts:
        context.close()


@pytest.fixture
def visitor(new_visitor):
    return new_visitor()


@pytest.fixture
def page(visitor):
    """A page in a new browser context of its own, at desktop size, on the live server."""
    return visitor.page


@pytest.fixture
def demo(transactional_db, live_server):
    """The demo content (`manage.py load_demo`): its article, disclaimer, Legal Statement, poll."""
    call_command("load_demo", stdout=StringIO())
    return Article.objects.get(slug="rejection-while-depressed")


def sign_in(page, username, password):
    """Sign `page`'s browser in to the admin, as staff do, through the login form."""
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
