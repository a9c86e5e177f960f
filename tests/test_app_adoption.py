"""The main page through AppTest: filters from the URL, charts against the metrics API."""

from __future__ import annotations

from datetime import date

import pytest

from metrics import Granularity, Period, PeriodName
from tests import datasets as d
from tests.app_support import (
    END,
    assert_clean,
    charts,
    metrics_by_label,
    new_app,
    plain,
    rows,
    spec,
    texts,
)
from ui.charts import day_range


def check_charts(at, report, hits_report=None) -> None:
    hits_report = hits_report or report
    active, credits, hits = charts(at)
    assert rows(active)["active_users"].tolist() == list(report.active_users.series)
    assert rows(active)["first"].tolist() == [b.first.isoformat() for b in report.buckets]
    data = rows(credits)
    built = data[data["series"] == "Built-in quota"]
    top = data[data["series"] == "Top-up AI Credits"]
    assert built["credits"].tolist() == pytest.approx(list(report.credits.builtin_series))
    assert top["credits"].tolist() == pytest.approx(list(report.credits.topup_series))
    assert rows(hits)["limit_hit_users"].tolist() == list(hits_report.limit_hits.series)


def check_metrics(at, report, previous=None, note="No earlier data") -> None:
    """`previous=None`: the earlier period is not all within the data, so every delta is a
    neutral `note`."""
    m = metrics_by_label(at)
    assert int(m["Active users"].value) == report.active_users.total
    assert float(m["Total AI Credits spent"].value) == pytest.approx(report.credits.total)
    assert float(m["Built-in quota"].value) == pytest.approx(report.credits.builtin)
    assert float(m["Top-up AI Credits"].value) == pytest.approx(report.credits.topup)
    assert int(m["Users who hit their limit"].value) == report.limit_hits.users
    peak = m["Peak daily users who hit their limit"]
    assert int(peak.value) == report.limit_hits.peak_daily_users
    if previous is None:
        for metric in m.values():
            assert metric.delta == note
            assert metric.proto.direction == metric.proto.MetricDirection.NONE
            assert metric.proto.color == metric.proto.MetricColor.GRAY
        return
    assert int(m["Active users"].delta) == report.active_users.total - previous.active_users.total
    assert float(m["Total AI Credits spent"].delta) == pytest.approx(
        report.credits.total - previous.credits.total, abs=0.05
    )


def versus(at) -> str:
    return metrics_by_label(at)["Active users"].proto.delta_description


def test_default_view_is_last_30_days(app_env, small_ds):
    at = new_app()
    at.run()
    assert_clean(at)
    assert at.title[0].value == "AI adoption and usage"
    assert at.selectbox(key="period").value == "Last 30 days"
    period = Period.named(PeriodName.LAST_30_DAYS, END)
    report = small_ds.report(period)
    assert report.granularity is Granularity.DAY
    check_charts(at, report)
    check_metrics(at, report, small_ds.report(period.previous(), Granularity.DAY))
    assert versus(at) == "vs Sep 26 – Oct 25, 2026"
    assert len(at.get("download_button")) == 3


def test_the_sidebar_lists_the_periods_in_a_sensible_order(app_env):
    at = new_app()
    at.run()
    assert at.selectbox(key="period").options == [
        "Last 7 days",
        "Last 30 days",
        "This month",
        "Last month",
        "This quarter",
        "Last quarter",
        "Year to date",
        "Last 3 months",
        "Last 6 months",
        "Last 12 months",
        "All time",
        "Custom range",
    ]


def test_period_and_granularity_each_read_once(app_env):
    at = new_app()
    at.run()
    assert at.sidebar.caption[1].value == "Oct 26 – Nov 24, 2026 · 30 days"
    main = texts(at.main.caption)
    assert sum("by day (auto)" in c for c in main) == 1
    assert not any("30 days" in c for c in main)


def test_the_granularity_control_is_only_where_it_acts(app_env):
    at = new_app(gran="Week")
    at.run()
    assert at.segmented_control(key="gran").value == "Week"
    assert not at.sidebar.get("button_group")
    for page in ("app_pages/users.py", "app_pages/data.py"):
        at.switch_page(page).run()
        assert_clean(at)
        assert not [b for b in at.get("button_group") if b.proto.id.endswith("gran")]


def test_filters_come_from_the_url(app_env, small_ds):
    period = Period.named(PeriodName.LAST_3_MONTHS, END)
    team = next(t for t in small_ds.teams if small_ds.report(period, teams=[t]).limit_hits.users)
    at = new_app(period="Last 3 months", gran="Week", team=[team])
    at.run()
    assert_clean(at)
    assert at.selectbox(key="period").value == "Last 3 months"
    assert at.multiselect(key="team").value == [team]
    report = small_ds.report(period, "week", teams=[team])
    check_charts(at, report)
    # Jun to Aug, the three months before, hold no data: no delta, a note instead.
    check_metrics(at, report, previous=None)
    assert versus(at) == f"data from {day_range(small_ds.first_day, small_ds.first_day)}"
    labels = rows(charts(at)[0])["label"].tolist()
    assert labels[0] == "W36 · Aug 31"


@pytest.mark.parametrize(
    ("label", "name", "previous"),
    [
        ("This month", PeriodName.MONTH_TO_DATE, "vs Oct 1 – Oct 24, 2026"),
        ("Last 7 days", PeriodName.LAST_7_DAYS, "vs Nov 11 – Nov 17, 2026"),
        ("Last 30 days", PeriodName.LAST_30_DAYS, "vs Sep 26 – Oct 25, 2026"),
    ],
)
def test_deltas_compare_with_the_period_of_the_same_kind(app_env, small_ds, label, name, previous):
    at = new_app(period=label)
    at.run()
    assert_clean(at)
    period = Period.named(name, END)
    report = small_ds.report(period)
    check_charts(at, report)
    check_metrics(at, report, small_ds.report(name.previous(period)))
    assert versus(at) == previous


def test_last_month_compares_with_the_month_before_only_within_the_data(app_env, small_ds):
    """Last month (October) against September, which the data covers only from its first day
    with a counted request on: the earlier month is partial, so a note instead of deltas."""
    first = small_ds.first_day
    assert date(2026, 9, 1) < first <= date(2026, 9, 30)
    at = new_app(period="Last month")
    at.run()
    assert_clean(at)
    report = small_ds.report(Period(date(2026, 10, 1), date(2026, 10, 31)))
    check_charts(at, report)
    check_metrics(at, report, note="Earlier data partial")
    assert versus(at) == f"data from {day_range(first, first)}"


def test_a_custom_range_compares_with_as_many_days_before(app_env, small_ds):
    at = new_app(period="Custom range", range=["2026-10-15", "2026-11-10"])
    at.run()
    period = Period(date(2026, 10, 15), date(2026, 11, 10))
    check_metrics(at, small_ds.report(period), small_ds.report(period.previous()))
    assert versus(at) == "vs Sep 18 – Oct 14, 2026"


def test_an_earlier_period_partly_before_the_data_is_no_comparison(app_env, small_ds):
    """Sep 20 to Oct 31 against Aug 9 to Sep 19, of which the data holds only Sep 1 on."""
    at = new_app(period="Custom range", range=["2026-09-20", "2026-10-31"])
    at.run()
    period = Period(date(2026, 9, 20), date(2026, 10, 31))
    check_metrics(at, small_ds.report(period), note="Earlier data partial")
    assert versus(at) == f"data from {day_range(small_ds.first_day, small_ds.first_day)}"


def test_custom_range_and_partial_buckets(app_env, small_ds):
    at = new_app(period="Custom range", range=["2026-09-15", "2026-11-10"], gran="Month")
    at.run()
    assert_clean(at)
    report = small_ds.report(Period(date(2026, 9, 15), date(2026, 11, 10)), "month")
    check_charts(at, report)
    data = rows(charts(at)[0])
    assert data["coverage"].tolist() == ["Partial", "Whole", "Partial"]
    captions = " ".join(c.value for c in at.caption)
    assert "Lighter bars are partial buckets" in captions


def test_period_change_recomputes_the_charts(app_env, small_ds):
    at = new_app()
    at.run()
    at.selectbox(key="period").set_value("All time").run()
    assert_clean(at)
    period = small_ds.period("all-time", END)
    check_charts(at, small_ds.report(period))
    at.segmented_control(key="gran").set_value("Year").run()
    assert len(rows(charts(at)[0])) == len({period.start.year, period.end.year})


def test_tool_filter_narrows_the_first_two_charts_only(app_env, small_ds):
    at = new_app(period="Last 3 months", tool=["Junie"])
    at.run()
    assert_clean(at)
    period = Period.named(PeriodName.LAST_3_MONTHS, END)
    narrowed = small_ds.report(period, tools=["junie"])
    everything = small_ds.report(period)
    assert narrowed.credits.total < everything.credits.total
    check_charts(at, narrowed, hits_report=everything)
    # An exported image carries its subtitle: the hits chart must not claim the tool filter.
    active, credits, hits = (spec(c)["title"]["subtitle"][1] for c in charts(at))
    assert active == credits == "All teams · Junie"
    assert hits == "All teams · all tools"


def test_users_without_a_team_can_be_chosen(app_env, small_ds):
    assert small_ds.users["team"].isna().any()
    at = new_app(period="Last 3 months", team=["No team"])
    at.run()
    assert_clean(at)
    assert at.multiselect(key="team").options[-1] == "No team"
    assert at.multiselect(key="team").value == [None]
    period = Period.named(PeriodName.LAST_3_MONTHS, END)
    report = small_ds.report(period, teams=[None])
    assert report.active_users.total > 0
    check_charts(at, report)
    assert "No team" in plain(at.main.caption[0].value)


def test_every_team_chosen_keeps_the_users_without_one(app_env, small_ds):
    every = [*small_ds.teams, "No team"]
    at = new_app(period="Last 3 months", team=every)
    at.run()
    assert_clean(at)
    period = Period.named(PeriodName.LAST_3_MONTHS, END)
    check_charts(at, small_ds.report(period))


def test_a_period_without_data_shows_an_empty_state(app_env):
    at = new_app(period="Custom range", range=["2021-01-01", "2021-01-31"])
    at.run()
    assert_clean(at)
    assert charts(at) == []
    infos = [i.value for i in at.info]
    assert any("No active AI users" in i for i in infos)
    assert any("No AI Credits were spent" in i for i in infos)
    assert any("Nobody hit their AI Credits limit" in i for i in infos)
    # Beyond the data, its span is the reason and is said.
    assert all("The dataset holds counted requests from" in i for i in infos)


def test_an_empty_chart_within_the_data_does_not_blame_the_data(app_env, small_ds):
    days = small_ds.report(Period.named(PeriodName.LAST_3_MONTHS, END), Granularity.DAY)
    quiet = next(
        b.first
        for b, hits, active in zip(
            days.buckets, days.limit_hits.series, days.active_users.series, strict=True
        )
        if active and not hits
    )
    at = new_app(period="Custom range", range=[quiet.isoformat(), quiet.isoformat()])
    at.run()
    assert_clean(at)
    (info,) = [i.value for i in at.info]
    assert info == f"Nobody hit their AI Credits limit in {day_range(quiet, quiet)}."
    # The users behind that day's bar are "on" the day, not "in" it.
    at = new_app(
        period="Custom range",
        range=[quiet.isoformat(), quiet.isoformat()],
        bar_active=f"{quiet}..{quiet}",
    )
    at.run()
    assert f"** on {day_range(quiet, quiet)}" in at.main.markdown[-1].value


def test_charts_declare_a_click_selection(app_env):
    at = new_app(period="Last 3 months")
    at.run()
    for chart in charts(at):
        (param,) = spec(chart)["params"]
        assert param["name"] == "pick"
        assert param["select"]["fields"] == ["first", "last"]
        assert chart.proto.selection_mode == ["pick"]


def test_a_clicked_bar_in_the_url_is_drawn_picked_with_its_users(app_env, small_ds):
    at = new_app(period="Last 3 months", bar_hits="2026-11-01..2026-11-24")
    at.run()
    assert_clean(at)
    active, credits, hits = charts(at)
    assert "value" not in spec(active)["params"][0]
    (param,) = spec(hits)["params"]
    assert param["value"] == [{"first": "2026-11-01", "last": "2026-11-24"}]
    expected = small_ds.bucket_users(date(2026, 11, 1), date(2026, 11, 24))
    expected = expected[expected["hit_limit"]]
    assert f"{len(expected)} users** in Nov 1 – Nov 24, 2026" in at.main.markdown[-1].value
    table = at.dataframe[-1].value
    assert sorted(table["user_id"]) == sorted(expected["user_id"])
    assert at.query_params["bar_hits"] == "2026-11-01..2026-11-24"


def test_a_clicked_bar_the_view_does_not_draw_leaves_the_url(app_env):
    at = new_app(period="Last 3 months", bar_active="2026-11-01..2026-11-24")
    at.run()
    assert "bar_active" in at.query_params
    at.selectbox(key="period").set_value("Last 30 days").run()
    assert_clean(at)
    assert "bar_active" not in at.query_params
    assert all("value" not in spec(c)["params"][0] for c in charts(at))


def test_the_dataset_is_part_of_the_url(app_env, tmp_path):
    other = d.worked_example(tmp_path / "worked")
    at = new_app(dataset=str(other), period="Custom range", range=["2026-01-01", "2026-02-28"])
    at.run()
    assert_clean(at)
    assert plain(at.sidebar.markdown[0].value) == "**Test org**"
    assert rows(charts(at)[0])["active_users"].tolist() == [1, 1]


@pytest.mark.parametrize("where", ["missing", "outside"])
def test_a_link_to_a_dataset_that_does_not_open_falls_back(app_env, small_ds, tmp_path, where):
    raw = str(tmp_path / "gone") if where == "missing" else "/etc"
    at = new_app(dataset=raw)
    at.run()
    assert_clean(at)
    (warning,) = texts(at.warning)
    assert warning.startswith("The dataset this link names could not be opened. No such folder:")
    assert raw in warning
    assert plain(at.sidebar.markdown[0].value) == f"**{small_ds.name}**"
    assert len(charts(at)) == 3
    assert "dataset" not in at.query_params
