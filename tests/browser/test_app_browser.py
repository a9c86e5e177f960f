"""The app in a real Chromium against a real server: what a person sees and clicks."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_no_exception, guard
from tests.browser.server import (
    CHART,
    bar_counts,
    chart_signature,
    choose_period,
    settled_picture,
    wait_for_app,
)
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


def test_main_page_renders_three_charts(page, server):
    said = []
    page.on("console", lambda m: said.append(m.text) if m.type in ("warning", "error") else None)
    page.goto(server + "/")
    charts_drawn(page)
    assert page.locator(f"{CHART} svg.marks").count() == 3
    assert said == []  # Vega-Lite warns of encodings it cannot honour
    assert bar_counts(page) == [30, 60, 30]
    assert page.get_by_text("Active AI users").first.is_visible()
    assert page.get_by_text("AI Credits consumption").first.is_visible()
    assert page.get_by_text("Users who hit their monthly AI Credits limit").first.is_visible()


def test_the_three_charts_are_equally_tall_with_one_legend_each(page, server, browser_ds):
    page.goto(server + "/?period=Last+3+months")
    active, credits, hits = settled_picture(page, [3, 6, 3])
    assert active["height"] == credits["height"] == hits["height"]
    assert active["legend"] == ["Active users"]
    assert credits["legend"] == ["Built-in quota", "Top-up AI Credits"]
    assert hits["legend"] == ["Users who hit their limit"]
    assert credits["title"] == [
        "AI Credits per month",
        f"{browser_ds.name} · Sep 1 – Nov 24, 2026",
        "All teams · all tools",
    ]


def test_period_change_redraws_and_lands_in_the_url(page, server):
    page.goto(server + "/")
    charts_drawn(page)
    before = chart_signature(page)
    choose_period(page, "Last 3 months")
    settled_picture(page, [3, 6, 3])
    assert chart_signature(page) != before
    assert "period=Last+3+months" in page.url

    page.reload()
    settled_picture(page, [3, 6, 3])


def test_deltas_without_earlier_data_say_so(page, server, browser_ds):
    page.goto(server + "/?period=All+time")
    settled_picture(page)
    main = page.locator('[data-testid="stMain"]')
    assert main.get_by_text("No earlier data").count() == 6
    first = browser_ds.first_day
    assert main.get_by_text(f"data from {first:%b} {first.day}, {first.year}").count() == 6
    assert page.locator('[data-testid="stMetricDeltaIcon-Up"]').count() == 0


def test_clicking_a_bar_shows_the_users_behind_it(page, server):
    page.goto(server + "/?period=Last+3+months")
    settled_picture(page, [3, 6, 3])
    first_chart = page.locator(CHART).first
    first_chart.locator("g.mark-rect path").nth(2).click()
    heading = page.get_by_text(re.compile(r"^\d+ users? in Nov 1 – Nov 24, 2026$"))
    heading.wait_for()
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for()
    assert table.is_visible()
    page.wait_for_url(re.compile(r"bar_active=2026-11-01\.\.2026-11-24"))


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


def download_csv(page) -> bytes:
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    with open(download.value.path(), "rb") as f:
        return f.read()


def users_page(page, url: str) -> None:
    page.goto(url)
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    wait_for_app(page)


def test_the_users_table_fits_a_1366_pixel_window_whatever_the_sort(page, server):
    page.set_viewport_size({"width": 1366, "height": 1000})
    users_page(page, server + "/users?period=Last+3+months")
    scroller = '[data-testid="stDataFrame"] .dvn-scroller'
    for sort in ["Last active", "AI Credits in the period", "Team"]:
        page.get_by_label("Sort by").click()
        page.get_by_role("option", name=sort, exact=True).click()
        wait_for_app(page)
        page.wait_for_timeout(500)
        width, visible, left = page.evaluate(
            f"""() => {{ const s = document.querySelector('{scroller}');
                return [s.scrollWidth, s.clientWidth, s.scrollLeft]; }}"""
        )
        assert width <= visible and left == 0, (sort, width, visible)
    assert "users_sort=Team" in page.url


def test_the_users_csv_is_written_on_click_as_sorted_after_a_change(page, server, browser_ds):
    """The file is made when the button is clicked, not on each rerun: after a sort change it
    holds the rows a fresh load of the same address offers, in the new order."""
    users_page(page, server + "/users?period=Last+3+months")
    page.get_by_label("Sort by").click()
    page.get_by_role("option", name="Team", exact=True).click()
    page.wait_for_url(re.compile(r"users_sort=Team"))
    wait_for_app(page)
    changed = download_csv(page)
    users_page(page, page.url)
    assert download_csv(page) == changed
    users_page(page, server + "/users?period=Last+3+months")
    before = download_csv(page)
    old, new = (pd.read_csv(io.BytesIO(b), keep_default_na=False) for b in (before, changed))
    assert len(new) > 1 and new["team"].nunique() > 1
    assert set(new["user_id"]) == set(old["user_id"]) <= set(browser_ds.users["user_id"])
    assert new["user_id"].tolist() != old["user_id"].tolist()


def test_generate_a_small_organization_from_the_form(page, server, tmp_path):
    out = tmp_path / "generated"
    page.goto(server + "/data")
    page.locator("h1", has_text="Data").wait_for()
    wait_for_app(page)
    page.get_by_role("spinbutton", name="Users").fill("50")
    page.get_by_role("spinbutton", name="Months").fill("2")
    page.get_by_label("Output folder").fill(str(out))
    page.get_by_role("button", name="Generate and open").click()
    flash = page.get_by_text(re.compile(r"^Generated .+: 50 users"))
    flash.wait_for(timeout=60_000)
    assert (out / "users.parquet").is_file()
    org = flash.inner_text().removeprefix("Generated ").split(":")[0]
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert org in sidebar.inner_text()
    wait_for_app(page)
    expect(page.get_by_role("textbox", name="Dataset to check")).to_have_value(str(out))
    page.get_by_role("link", name="AI adoption and usage").click()
    charts_drawn(page, 2)
    caption = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first
    assert org in caption.inner_text()
    assert "dataset=" in page.url


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
    page.get_by_label("Dataset folder").fill(str(bad))
    page.get_by_role("button", name="Open dataset").click()
    page.get_by_text("is not a dataset the app can read").wait_for()
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert any("must exist in users.parquet" in t for t in errors.all_inner_texts())


def test_every_page_stays_on_this_machine(browser_context, server):
    """The page icon, fonts and icons are all served by the app itself."""
    page = browser_context.new_page()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    outside = guard(page)
    for path in ["/", "/teams", "/users", "/planning", "/data", "/?period=Custom+range&gran=Week"]:
        page.goto(server + path)
        wait_for_app(page)
        page.wait_for_timeout(1000)
        assert_no_exception(page)
    page.close()
    assert outside == []
    assert any("/media/" in url and url.endswith(".png") for url in asked), "no local icon"


def test_a_chart_exports_a_png_from_its_toolbar(page, server):
    """What docs/app.md promises: Download as PNG, and no SVG, in the chart's own toolbar."""
    page.goto(server + "/?period=Last+3+months")
    settled_picture(page, [3, 6, 3])
    chart = page.locator(CHART).nth(1)
    chart.hover()
    toolbar = page.locator('[data-testid="stElementToolbar"]').nth(1)
    labels = [b.get_attribute("aria-label") for b in toolbar.locator("button").all()]
    assert "Download as PNG" in labels
    assert not any("SVG" in (label or "") for label in labels)
    with page.expect_download() as download:
        toolbar.get_by_role("button", name="Download as PNG").click()
    path = download.value.path()
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


CUT_TEXT = """() => Array.from(document.querySelectorAll(
        '[data-testid="stMetricLabel"] *, [data-testid="stMetricValue"] *,'
        + ' [data-testid="stMetricDelta"] *, [data-testid="stBaseButton-secondary"] *'))
    .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.textContent)"""

COVERED = """() => Array.from(document.querySelectorAll(
        '[data-testid="stButtonGroup"] button, [data-testid="stPageLink"] a'))
    .filter(b => {
        const r = b.getBoundingClientRect();
        const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
        return r.width > 0 && !(top && b.contains(top));
    })
    .map(b => b.textContent)"""


PAST_THE_CHART = """() => Array.from(
        document.querySelectorAll('[data-testid="stVegaLiteChart"] svg'))
    .flatMap(svg => {
        const box = svg.getBoundingClientRect();
        return Array.from(svg.querySelectorAll('text')).filter(t => {
            const r = t.getBoundingClientRect();
            // A rotated label's box overhangs by a few pixels; a cut-off one by tens.
            return r.width > 0 && (r.right > box.right + 8 || r.left < box.left - 8);
        }).map(t => t.textContent);
    })"""


@pytest.mark.parametrize("path", ["/", "/teams", "/users", "/planning", "/data"])
def test_a_narrow_window_cuts_no_figure_and_hides_no_control(page, server, path):
    """800 pixels with the sidebar open leave the page some 480: rows wrap instead of cutting
    labels and figures, and no control lies under another."""
    page.set_viewport_size({"width": 800, "height": 4000})
    page.goto(server + path)
    page.wait_for_selector('[data-testid="stMetricValue"]')
    if path == "/":
        charts_drawn(page)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')")
    wait_for_app(page)
    assert page.evaluate(CUT_TEXT) == []
    assert page.evaluate(COVERED) == []
    assert page.evaluate(PAST_THE_CHART) == []
