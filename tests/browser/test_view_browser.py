"""What a person sees after changing the view in place is what a fresh load of the URL shows.

The organization spans 15 months (Sep 2025 to Nov 2026), so a period of more than a year
would draw two Novembers on one bar if a label lacked its year, and an axis that kept the
order in which values first arrived would put the new months after the old ones.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from playwright.sync_api import expect

import metrics
from tests.app_support import END
from tests.browser.conftest import assert_no_exception, guard
from tests.browser.server import (
    CHART,
    choose_period,
    choose_team,
    settled_picture,
    wait_for_app,
)
from tests.datasets import worked_example

pytestmark = pytest.mark.browser


def bars_of(period: metrics.Period, gran: str | None = None) -> list[int]:
    """Bars per chart: one per bucket, two (built-in and top-up) on the credits chart."""
    granularity = metrics.Granularity(gran) if gran else metrics.auto_granularity(period)
    n = len(metrics.buckets(period, granularity))
    return [n, 2 * n, n]


def named(label: str, ds) -> metrics.Period:
    name = next(p for p in metrics.PeriodName if p.label == label)
    return metrics.Period.named(name, END, ds.first_day)


@pytest.fixture
def fresh(browser_context):
    """Opens a URL in a new tab (a new session), as a person following a link would."""
    pages = []

    def load(url: str, bars: list[int]):
        page = browser_context.new_page()
        page.set_default_timeout(60_000)
        outside = guard(page)
        pages.append((page, outside))
        page.goto(url)
        picture = settled_picture(page, bars)
        assert_no_exception(page)
        page.close()
        return picture

    yield load
    for page, outside in pages:
        if not page.is_closed():
            page.close()
        assert outside == []


def months_in_order(labels: list[str]) -> bool:
    days = [datetime.strptime(x, "%b %Y") for x in labels]
    return days == sorted(days) and len(set(days)) == len(days)


def test_period_changes_in_place_draw_what_a_fresh_load_draws(page, server, fresh, browser_ds):
    page.goto(server + "/?period=Last+3+months")
    before = settled_picture(page, bars_of(named("Last 3 months", browser_ds)))
    assert before[0]["labels"] == ["Sep 2026", "Oct 2026", "Nov 2026"]
    for label in ["Last 6 months", "All time", "Last 12 months"]:
        choose_period(page, label)
        bars = bars_of(named(label, browser_ds))
        seen = settled_picture(page, bars)
        assert all(months_in_order(chart["labels"]) for chart in seen), seen[0]["labels"]
        assert seen == fresh(page.url, bars), label
    assert seen[0]["labels"][0] == "Dec 2025" and seen[0]["labels"][-1] == "Nov 2026"


def test_granularity_team_and_tool_changes_in_place_match_a_fresh_load(
    page, server, fresh, browser_ds
):
    period = named("Last 6 months", browser_ds)
    page.goto(server + "/?period=Last+6+months")
    settled_picture(page, bars_of(period))

    page.get_by_role("radio", name="Week", exact=True).click()
    bars = bars_of(period, "week")
    seen = settled_picture(page, bars)
    assert "gran=Week" in page.url
    assert seen == fresh(page.url, bars)

    # A team with limit hits in the period, so that all three charts stay drawn.
    team = max(
        browser_ds.teams,
        key=lambda t: browser_ds.report(period, teams=[t]).limit_hits.users,
    )
    choose_team(page, team)
    wait_for_app(page)
    page.wait_for_url(re.compile(r"team="))
    seen = settled_picture(page, bars)
    assert seen == fresh(page.url, bars)

    page.get_by_role("button", name="Junie", exact=True).click()
    page.wait_for_url(re.compile(r"tool=Junie"))
    seen = settled_picture(page, bars)
    assert seen == fresh(page.url, bars)

    page.get_by_role("radio", name="Month", exact=True).click()
    bars = bars_of(period, "month")
    seen = settled_picture(page, bars)
    assert seen == fresh(page.url, bars)
    assert months_in_order(seen[0]["labels"])


def test_a_day_range_over_a_year_draws_one_bar_per_day(page, server, fresh):
    first, last = date(2025, 10, 1), date(2026, 11, 24)
    days = (last - first).days + 1
    url = f"{server}/?period=Custom+range&range={first}&range={last}&gran=Day"
    page.goto(url)
    seen = settled_picture(page, [days, 2 * days, days])
    labels = seen[0]["labels"]
    assert len(labels) == len(set(labels))
    assert all(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, 20(25|26)", x) for x in labels), labels[:5]
    # One bar per day: as many distinct x positions as days, none drawn over another.
    assert len({bar[0] for bar in seen[0]["bars"]}) == days


def test_a_clicked_bar_survives_a_reload_and_a_link(page, server, fresh, browser_ds):
    period = named("Last 12 months", browser_ds)
    page.goto(server + "/?period=Last+12+months")
    bars = bars_of(period)
    settled_picture(page, bars)
    page.locator(CHART).first.locator("g.mark-rect path").nth(-1).click()
    page.wait_for_url(re.compile(r"bar_active=2026-11-01\.\.2026-11-24"))
    heading = re.compile(r"^\d+ users? in Nov 1 – Nov 24, 2026$")
    page.get_by_text(heading).wait_for()
    picked = settled_picture(page, bars)
    assert len({bar[5] for bar in picked[0]["bars"]}) > 1  # the others are dimmed

    assert picked == fresh(page.url, bars)
    page.reload()
    assert settled_picture(page, bars) == picked
    page.get_by_text(heading).wait_for()

    # The picked month is in the next view too: still picked, as a link would show it.
    choose_period(page, "Last 6 months")
    bars = bars_of(named("Last 6 months", browser_ds))
    seen = settled_picture(page, bars)
    assert "bar_active=2026-11-01..2026-11-24" in page.url
    assert len({bar[5] for bar in seen[0]["bars"]}) > 1
    assert seen == fresh(page.url, bars)

    # Not in this one: dropped, and no bar stays dimmed by a selection nobody sees.
    choose_period(page, "Last 30 days")
    bars = bars_of(named("Last 30 days", browser_ds))
    seen = settled_picture(page, bars)
    assert "bar_active" not in page.url
    assert len({bar[5] for bar in seen[0]["bars"]}) == 1
    assert seen == fresh(page.url, bars)


def test_reload_keeps_the_dataset_the_filters_and_the_users_view(page, server, tmp_path):
    other = worked_example(tmp_path / "worked")
    page.goto(server + "/data")
    wait_for_app(page)
    page.get_by_label("Dataset folder").fill(str(other))
    page.get_by_role("button", name="Open dataset").click()
    page.get_by_text("Opened Test org").wait_for()
    page.wait_for_url(re.compile(r"dataset="))

    page.get_by_role("link", name="Users").click()
    page.locator("h1", has_text="Users").wait_for()
    wait_for_app(page)
    page.get_by_role("textbox", name="Search").fill("u1")
    page.get_by_role("textbox", name="Search").press("Enter")
    page.wait_for_url(re.compile(r"users_q=u1"))
    page.get_by_label("Sort by").click()
    page.get_by_role("option", name="Name", exact=True).click()
    page.wait_for_url(re.compile(r"users_sort=Name"))
    page.get_by_text("Only near or over their limit").click()
    page.wait_for_url(re.compile(r"users_near=true"))
    assert "dataset=" in page.url

    wait_for_app(page)
    url = page.url
    page.reload()
    page.locator("h1", has_text="Users").wait_for()
    wait_for_app(page)
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("Test org")
    expect(page.get_by_role("textbox", name="Search")).to_have_value("u1")
    sort = page.locator('[data-testid="stSelectbox"]', has_text="Sort by")
    expect(sort.get_by_role("combobox")).to_have_value("Name")
    expect(page.get_by_role("switch", name="Only near or over their limit")).to_be_checked()
    assert page.url == url

    page.get_by_role("link", name="AI adoption and usage").click()
    page.locator("h1", has_text="AI adoption and usage").wait_for()
    wait_for_app(page)
    assert "Test org" in page.locator('[data-testid="stMain"]').inner_text()


def test_a_link_to_a_dataset_that_no_longer_opens_falls_back(page, server, browser_ds, tmp_path):
    page.goto(f"{server}/?dataset={tmp_path / 'gone'}&period=Last+3+months")
    page.get_by_text("The dataset this link names could not be opened").wait_for()
    assert page.get_by_text("No such folder").count() >= 1
    settled_picture(page, bars_of(named("Last 3 months", browser_ds)))
    assert browser_ds.name in page.locator('[data-testid="stSidebar"]').inner_text()
    assert "dataset=" not in page.url
