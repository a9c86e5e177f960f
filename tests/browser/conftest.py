"""Session fixtures for the browser tests: one generated organization, one server, one browser.

The organization spans 15 months, more than a year, so that labels without a year would
collide. Every page a test opens fails the test if the app shows an exception or the browser
asks any host but 127.0.0.1 for anything.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.app_support import END, SEED
from tests.browser.server import launch, streamlit_server

MONTHS = 15


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_dataset(tmp_path_factory):
    import fixtures

    out = tmp_path_factory.mktemp("browser-org") / "small"
    fixtures.generate(
        out, fixtures.GeneratorConfig.preset("small", end=END, seed=SEED, months=MONTHS)
    )
    return out


@pytest.fixture(scope="session")
def browser_ds(browser_dataset):
    import metrics

    return metrics.open_dataset(browser_dataset, cache_dir=False)


@pytest.fixture(scope="session")
def server_env(browser_dataset, tmp_path_factory):
    return {
        "AI_CONSOLE_DATASET": str(browser_dataset),
        "AI_CONSOLE_AS_OF": END.isoformat(),
        "AI_CONSOLE_DATA": str(tmp_path_factory.mktemp("browser-data") / "demo"),
        "AI_CONSOLE_CACHE_DIR": str(tmp_path_factory.mktemp("browser-cache")),
        "AI_CONSOLE_DATA_ROOTS": str(tmp_path_factory.getbasetemp()),
    }


@pytest.fixture(scope="session")
def server(server_env):
    with streamlit_server(server_env) as url:
        yield url


@pytest.fixture(scope="session")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser_context(playwright):
    browser = launch(playwright)
    try:
        yield browser.new_context(viewport={"width": 1440, "height": 1000})
    finally:
        browser.close()


def guard(page, allowed_hosts=("127.0.0.1",)) -> list[str]:
    """Aborts, and records, every request to another host than the app's."""
    outside: list[str] = []

    def route(r):
        if urlsplit(r.request.url).hostname in allowed_hosts:
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return outside


def assert_no_exception(page) -> None:
    shown = page.locator('[data-testid="stException"]')
    assert shown.count() == 0, shown.all_inner_texts()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(60_000)
    outside = guard(page)
    yield page
    assert_no_exception(page)
    page.close()
    assert outside == [], outside
