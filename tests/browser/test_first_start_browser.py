"""The very first start, while the demo organization is being generated."""

from __future__ import annotations

import time

import pytest

from tests.browser.server import CHART, streamlit_server

pytestmark = pytest.mark.browser

TITLES = ["AI adoption and usage", "Teams", "Users", "Planning", "Data"]


def test_the_sidebar_shows_page_titles_never_file_names(page, tmp_path, server_env):
    env = {**server_env, "AI_CONSOLE_DATA": str(tmp_path / "demo"), "AI_CONSOLE_DATASET": ""}
    with streamlit_server(env) as url:
        page.goto(url + "/")
        seen: list[list[str]] = []
        generating = False
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            links = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
            if links:
                seen.append([x.strip().splitlines()[-1] for x in links])
            if page.get_by_text("Creating a demo organization").count():
                generating = True
            if page.locator(f"{CHART} g.mark-rect path").count():
                break
            page.wait_for_timeout(100)
        else:
            pytest.fail("the demo organization never showed up")
    assert generating, "the first start did not generate the demo"
    assert seen and all(links == TITLES for links in seen), seen
    assert (tmp_path / "demo" / "users.parquet").is_file()
