"""Session fixtures for the browser tests: one generated organization, one server, one browser."""

from __future__ import annotations

import pytest

from tests.app_support import END, SEED
from tests.browser.server import chromium, streamlit_server


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_dataset(tmp_path_factory):
    import fixtures

    out = tmp_path_factory.mktemp("browser-org") / "small"
    fixtures.generate(out, fixtures.GeneratorConfig.preset("small", end=END, seed=SEED))
    return out


@pytest.fixture(scope="session")
def server(browser_dataset, tmp_path_factory):
    env = {
        "AI_CONSOLE_DATASET": str(browser_dataset),
        "AI_CONSOLE_AS_OF": END.isoformat(),
        "AI_CONSOLE_DATA": str(tmp_path_factory.mktemp("browser-data") / "demo"),
        "AI_CONSOLE_CACHE_DIR": str(tmp_path_factory.mktemp("browser-cache")),
    }
    with streamlit_server(env) as url:
        yield url


@pytest.fixture(scope="session")
def browser_context():
    with chromium() as context:
        yield context


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(30_000)
    yield page
    page.close()
