"""The app in a real Chromium against a real server: what a person sees and clicks."""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.server import CHART, bar_counts, chart_signature, choose_period, wait_for_app
from tests.datasets import license_, request, user, write_dataset

pytestmark = pytest.mark.browser


def charts_drawn(page, n: int = 3) -> None:
    page.wait_for_function(
        f"""() => {{
            const c = document.querySelectorAll('{CHART}');
            return c.length >= {n} && Array.from(c).every(
                x => x.querySelectorAll('g.mark-rect path').length > 0);
        }}"""
    )


def wait_for_bars(page, counts: list[int]) -> None:
    """Until every chart has redrawn: the bar counts per chart are the expected ones."""
    expected = json.dumps(counts, separators=(",", ":"))
    page.wait_for_function(
        f"""() => JSON.stringify(Array.from(document.querySelectorAll('{CHART}'))
            .map(c => c.querySelectorAll('g.mark-rect path').length)) === '{expected}'"""
    )


def test_main_page_renders_three_charts(page, server):
    page.goto(server + "/")
    charts_drawn(page)
    assert page.locator(f"{CHART} svg.marks").count() == 3
    assert bar_counts(page) == [30, 60, 30]
    assert page.get_by_text("Active AI users").first.is_visible()
    assert page.get_by_text("AI Credits consumption").first.is_visible()
    assert page.get_by_text("Users who hit their monthly AI Credits limit").first.is_visible()


def test_period_change_redraws_and_lands_in_the_url(page, server):
    page.goto(server + "/")
    charts_drawn(page)
    before = chart_signature(page)
    choose_period(page, "Last 3 months")
    wait_for_bars(page, [3, 6, 3])
    assert chart_signature(page) != before
    assert "period=Last+3+months" in page.url

    page.reload()
    wait_for_bars(page, [3, 6, 3])


def test_clicking_a_bar_shows_the_users_behind_it(page, server):
    page.goto(server + "/?period=Last+3+months")
    charts_drawn(page)
    first_chart = page.locator(CHART).first
    first_chart.locator("g.mark-rect path").nth(2).click()
    heading = page.get_by_text(re.compile(r"^\d+ users? in Nov 1 – Nov 24, 2026$"))
    heading.wait_for()
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for()
    assert table.is_visible()


def test_users_and_data_pages_keep_the_filters(page, server):
    page.goto(server + "/?period=Last+6+months")
    charts_drawn(page)
    page.get_by_role("link", name="Users").click()
    page.locator("h1", has_text="Users").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    assert "/users" in page.url and "period=Last+6+months" in page.url
    page.get_by_role("link", name="Data").click()
    page.locator("h1", has_text="Data").wait_for()
    page.get_by_text("follows every rule of the data format").wait_for()
    assert "period=Last+6+months" in page.url


def test_generate_a_small_organization_from_the_form(page, server, tmp_path):
    out = tmp_path / "generated"
    page.goto(server + "/data")
    page.locator("h1", has_text="Data").wait_for()
    wait_for_app(page)
    page.get_by_label("Months").fill("2")
    page.get_by_label("Output directory").fill(str(out))
    page.get_by_role("button", name="Generate and open").click()
    flash = page.get_by_text(re.compile(r"^Generated .+: 50 users"))
    flash.wait_for(timeout=60_000)
    assert (out / "users.parquet").is_file()
    org = flash.inner_text().removeprefix("Generated ").split(":")[0]
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert org in sidebar.inner_text()
    page.get_by_role("link", name="AI adoption and usage").click()
    charts_drawn(page, 2)
    caption = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first
    assert org in caption.inner_text()


def test_a_bad_dataset_shows_its_errors(page, server, tmp_path):
    bad = write_dataset(
        tmp_path / "bad",
        users=[user("u1")],
        licenses=[license_("l1", "u1")],
        requests=[request("r1", "2026-01-05 09:00", "nobody", "l1", 6)],
    )
    page.goto(server + "/data")
    page.locator("h1", has_text="Data").wait_for()
    wait_for_app(page)
    page.get_by_label("Dataset directory").fill(str(bad))
    page.get_by_role("button", name="Open dataset").click()
    page.get_by_text("was not opened").wait_for()
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert any("must exist in users.parquet" in t for t in errors.all_inner_texts())
    assert page.locator('[data-testid="stException"]').count() == 0
