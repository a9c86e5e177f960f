"""The Users table of an organization large enough that Streamlit sends its rows lazily (over
1,000): what a person sees after a sort or a search in place is what a fresh load shows."""

from __future__ import annotations

import re

import pytest

from tests.app_support import END, SEED
from tests.browser.server import streamlit_server, wait_for_app

pytestmark = pytest.mark.browser

USERS = 1_200
FIRST_NAMES = """() => Array.from(document.querySelectorAll('[data-testid="stDataFrame"] table tr'))
    .slice(1, 9).map(r => r.querySelector('td') && r.querySelector('td').innerText)"""


@pytest.fixture(scope="module")
def large_dataset(tmp_path_factory):
    import fixtures

    out = tmp_path_factory.mktemp("large-org") / "org"
    config = fixtures.GeneratorConfig.preset("small", end=END, seed=SEED, months=3, users=USERS)
    fixtures.generate(out, config)
    return out


@pytest.fixture(scope="module")
def large_server(large_dataset, tmp_path_factory):
    env = {
        "AI_CONSOLE_DATASET": str(large_dataset),
        "AI_CONSOLE_AS_OF": END.isoformat(),
        "AI_CONSOLE_CACHE_DIR": str(tmp_path_factory.mktemp("large-cache")),
        "AI_CONSOLE_DATA_ROOTS": str(tmp_path_factory.getbasetemp()),
    }
    with streamlit_server(env) as url:
        yield url


def first_rows(page, url: str | None = None) -> list[str]:
    if url:
        page.goto(url)
    page.locator('[data-testid="stDataFrame"] table tr td').first.wait_for(state="attached")
    wait_for_app(page)
    page.wait_for_timeout(500)
    return page.evaluate(FIRST_NAMES)


def test_a_sort_and_a_search_in_place_show_what_a_fresh_load_shows(
    page, large_server, large_dataset
):
    """The sort reorders a lazy table (1,200 rows); the search leaves about a hundred, which
    go at once, and clearing it brings the lazy table back: both switches happen in place under
    one key."""
    import metrics

    ds = metrics.open_dataset(large_dataset, cache_dir=False)
    period = metrics.Period.named(metrics.PeriodName.LAST_3_MONTHS, END)
    first_rows(page, large_server + "/users?period=Last+3+months")
    page.get_by_label("Sort by").click()
    page.get_by_role("option", name="Name", exact=True).click()
    page.wait_for_url(re.compile(r"users_sort=Name"))
    in_place = first_rows(page)
    assert in_place == sorted(ds.users_overview(period)["name"])[:8]
    # A lazy table's toolbar has no search of its own: this one is lazy.
    assert page.get_by_role("button", name="Search").count() == 0
    assert first_rows(page, page.url) == in_place

    page.get_by_role("textbox", name="Search").fill("backend")
    page.get_by_role("textbox", name="Search").press("Enter")
    page.wait_for_url(re.compile(r"users_q=backend"))
    searched = first_rows(page)
    assert first_rows(page, page.url) == searched
    backend = ds.users_overview(period, teams=["Backend"])["name"]
    assert searched == sorted(backend)[:8]
    assert page.get_by_role("button", name="Search").count() == 1  # sent at once

    page.get_by_role("textbox", name="Search").fill("")
    page.get_by_role("textbox", name="Search").press("Enter")
    page.wait_for_url(lambda url: "users_q=" not in url)
    assert first_rows(page) == in_place
