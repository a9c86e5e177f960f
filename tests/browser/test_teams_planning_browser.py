"""The Teams and Planning pages in a real Chromium against a real server.

The adoption chart redrawn in place after a period change must be the chart a fresh load of
the same URL draws, bar by bar and label by label; a click on a team lands on the main page
filtered to it. Every page fails its test on an exception shown or on a request to a host other
than 127.0.0.1 (the `page` fixture).
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

import metrics
from tests.app_support import END
from tests.browser.conftest import assert_no_exception, guard
from tests.browser.server import CHART, choose_period, wait_for_app

pytestmark = pytest.mark.browser

_TEAMS_PICTURE = """() => {
    const chart = document.querySelector('[data-testid="stVegaLiteChart"]');
    const svg = chart && chart.querySelector('svg.marks');
    if (!svg) return null;
    const box = svg.getBoundingClientRect();
    const axis = Array.from(svg.querySelectorAll('g.role-axis')).find(
        g => (g.getAttribute('aria-label') || '').startsWith('Y-axis'));
    const labels = axis ? Array.from(axis.querySelectorAll('g.role-axis-label text'))
        .filter(t => t.getAttribute('opacity') !== '0')
        .map(t => [t.getBoundingClientRect().top - box.top, t.textContent])
        .sort((a, b) => a[0] - b[0]).map(x => x[1]) : [];
    const bars = Array.from(svg.querySelectorAll('g.mark-rect path')).map(p => {
        const r = p.getBoundingClientRect();
        return [Math.round(r.left - box.left), Math.round(r.top - box.top),
                Math.round(r.width), Math.round(r.height), p.getAttribute('fill'),
                p.getAttribute('fill-opacity') || '1'];
    }).sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    const rule = Array.from(svg.querySelectorAll(
        'g.mark-rule.role-mark line, g.mark-rule.role-mark path')).map(l => {
        const r = l.getBoundingClientRect();
        return [Math.round(r.left - box.left), Math.round(r.width)];
    });
    const texts = sel => Array.from(svg.querySelectorAll(sel)).map(t => t.textContent.trim())
        .filter(Boolean);
    return {labels, bars, rule, legend: texts('g.role-legend text'),
            title: texts('g.role-title text'), marks: texts('g.mark-text.role-mark text')};
}"""


def teams_picture(page, bars: int, timeout: float = 90) -> dict:
    """The adoption chart once the run is over, `bars` bars drawn and two reads 300 ms apart
    agree."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        wait_for_app(page)
        current = page.evaluate(_TEAMS_PICTURE)
        stale = page.locator('[data-stale="true"]').count()
        if current and len(current["bars"]) == bars and not stale and current == previous:
            return current
        previous = current
        page.wait_for_timeout(300)
    raise TimeoutError(str(previous)[:2000])


def named(label: str, ds) -> metrics.Period:
    name = next(p for p in metrics.PeriodName if p.label == label)
    return metrics.Period.named(name, END, ds.first_day)


def least_first(ds, period) -> list[str]:
    """The teams as the chart should draw them, top to bottom: adoption, then name."""
    rows = ds.by_team(period).teams
    drawn = sorted((r.adoption, r.team or "No team") for r in rows if r.adoption is not None)
    return [label for _, label in drawn]


@pytest.fixture
def fresh(browser_context):
    """Opens a URL in a new tab (a new session), as a person following a link would."""
    pages = []

    def load(url: str, bars: int) -> dict:
        page = browser_context.new_page()
        page.set_default_timeout(60_000)
        outside = guard(page)
        pages.append((page, outside))
        page.goto(url)
        picture = teams_picture(page, bars)
        assert_no_exception(page)
        return picture

    yield load
    for page, outside in pages:
        page.close()
        assert outside == []


def test_a_period_change_on_teams_draws_what_a_fresh_load_draws(page, server, fresh, browser_ds):
    page.goto(server + "/teams?period=Last+3+months")
    order = least_first(browser_ds, named("Last 3 months", browser_ds))
    before = teams_picture(page, len(order))
    assert before["labels"] == order
    assert before["title"][0] == "Adoption by team"
    assert before["legend"] == ["Below the organization", "At or above the organization"]
    assert len(before["rule"]) == 1 and before["marks"][0].startswith("Organization ")
    changed = False
    for label in ["Last 12 months", "Last 30 days", "This quarter"]:
        url = page.url
        choose_period(page, label)
        page.wait_for_function("url => location.href !== url", arg=url)
        order = least_first(browser_ds, named(label, browser_ds))
        seen = teams_picture(page, len(order))
        assert seen["labels"] == order, label
        assert seen == fresh(page.url, len(order)), label
        changed |= seen["bars"] != before["bars"]
    assert changed, "the periods tried should not all draw the same adoption"


def test_clicking_a_team_opens_the_main_page_filtered_to_it(page, server, browser_ds):
    page.goto(server + "/teams?period=Last+6+months")
    order = least_first(browser_ds, named("Last 6 months", browser_ds))
    teams_picture(page, len(order))
    team = order[0]  # the least adopting, drawn on top
    page.locator(CHART).first.locator("g.mark-rect path").first.click()
    page.locator("h1", has_text="AI adoption and usage").wait_for()
    wait_for_app(page)
    page.wait_for_url(re.compile(r"[?&]team=" + re.escape(team.replace(" ", "+")) + r"(&|$)"))
    wait_for_app(page)
    assert "/teams" not in page.url
    assert "period=Last+6+months" in page.url
    sidebar_teams = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]')
    expect(sidebar_teams).to_contain_text(team, timeout=60_000)
    caption = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first
    expect(caption).to_contain_text(team, timeout=60_000)
    page.wait_for_function(f"""() => document.querySelectorAll('{CHART}').length === 3""")

    page.reload()
    page.locator("h1", has_text="AI adoption and usage").wait_for()
    wait_for_app(page)
    expect(sidebar_teams).to_contain_text(team, timeout=60_000)


def test_the_teams_sort_lives_in_the_url(page, server, browser_ds):
    page.goto(server + "/teams?period=Last+3+months")
    teams_picture(page, len(least_first(browser_ds, named("Last 3 months", browser_ds))))
    page.get_by_label("Sort by").click()
    page.get_by_role("option", name="AI Credits", exact=True).click()
    page.wait_for_url(re.compile(r"teams_sort=AI\+Credits"))
    wait_for_app(page)
    page.reload()
    wait_for_app(page)
    sort = page.locator('[data-testid="stSelectbox"]', has_text="Sort by")
    expect(sort.get_by_role("combobox")).to_have_value("AI Credits")


def test_planning_shows_the_forecast_and_the_seats(page, server, browser_ds):
    page.goto(server + "/?period=Last+3+months")
    page.locator("h1", has_text="AI adoption and usage").wait_for()
    wait_for_app(page)
    users = len({r.user_id for r in browser_ds.forecast(END).at_risk})
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text(
        f"{users} user{' is' if users == 1 else 's are'} expected to run out of AI Credits"
    )
    main.get_by_role("link", name="Planning").click()
    page.locator("h1", has_text="Planning").wait_for()
    wait_for_app(page)
    assert "/planning" in page.url and "period=Last+3+months" in page.url
    expect(main).to_contain_text(f"{users} user")
    expect(main).to_contain_text("Top-up AI Credits in November 2026")
    page.wait_for_function(
        f"""() => Array.from(document.querySelectorAll('{CHART}'))
            .some(c => c.querySelectorAll('g.mark-rect path').length === 4)"""
    )
    assert page.get_by_role("button", name="Download CSV").count() >= 2
    assert page.get_by_text("≈ $").count() >= 2


def test_the_planning_tab_lives_in_the_url(page, server):
    page.goto(server + "/planning")
    page.locator("h1", has_text="Planning").wait_for()
    wait_for_app(page)
    page.get_by_role("tab", name="Lapsed").click()
    page.wait_for_url(re.compile(r"seats_tab=Lapsed"))
    wait_for_app(page)
    page.reload()
    page.locator("h1", has_text="Planning").wait_for()
    wait_for_app(page)
    expect(page.get_by_role("tab", name="Lapsed")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_text("Active before, but without a counted request")).to_be_visible()
