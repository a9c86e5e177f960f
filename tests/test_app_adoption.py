"""The main page through AppTest: filters from the URL, charts against the metrics API."""

from __future__ import annotations

from datetime import date

import pytest

from metrics import Granularity, Period, PeriodName
from tests.app_support import END, assert_clean, charts, metrics_by_label, new_app, rows, spec


def check_charts(at, report, hits_report=None) -> None:
    hits_report = hits_report or report
    active, credits, hits = charts(at)
    assert rows(active)["active_users"].tolist() == list(report.active_users.series)
    assert rows(active)["first"].tolist() == [b.first.isoformat() for b in report.buckets]
    data = rows(credits)
    built = data[data["kind"] == "Built-in quota"]
    top = data[data["kind"] == "Top-up AI Credits"]
    assert built["credits"].tolist() == pytest.approx(list(report.credits.builtin_series))
    assert top["credits"].tolist() == pytest.approx(list(report.credits.topup_series))
    assert rows(hits)["limit_hit_users"].tolist() == list(hits_report.limit_hits.series)


def check_metrics(at, report, previous) -> None:
    m = metrics_by_label(at)
    assert int(m["Active users"].value) == report.active_users.total
    assert float(m["Total AI Credits spent"].value) == pytest.approx(report.credits.total)
    assert float(m["Built-in quota"].value) == pytest.approx(report.credits.builtin)
    assert float(m["Top-up AI Credits"].value) == pytest.approx(report.credits.topup)
    assert int(m["Users who hit their limit"].value) == report.limit_hits.users
    peak = m["Peak daily users who hit their limit"]
    assert int(peak.value) == report.limit_hits.peak_daily_users
    assert int(m["Active users"].delta) == report.active_users.total - previous.active_users.total
    assert float(m["Total AI Credits spent"].delta) == pytest.approx(
        report.credits.total - previous.credits.total, abs=0.05
    )


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
    versus = metrics_by_label(at)["Active users"].proto.delta_description
    assert versus == "vs Sep 26 – Oct 25, 2026"
    assert len(at.get("download_button")) == 3


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
    check_metrics(at, report, small_ds.report(period.previous(), "week", teams=[team]))
    labels = rows(charts(at)[0])["label"].tolist()
    assert labels[0].startswith("W")
    versus = metrics_by_label(at)["Active users"].proto.delta_description
    assert versus == "vs Jun 8 – Aug 31, 2026 (before any data)"


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


def test_a_period_without_data_shows_an_empty_state(app_env):
    at = new_app(period="Custom range", range=["2021-01-01", "2021-01-31"])
    at.run()
    assert_clean(at)
    assert charts(at) == []
    infos = [i.value for i in at.info]
    assert any("No active AI users" in i for i in infos)
    assert any("No AI Credits were spent" in i for i in infos)
    assert any("Nobody hit their AI Credits limit" in i for i in infos)


def test_charts_declare_a_click_selection(app_env):
    at = new_app(period="Last 3 months")
    at.run()
    for chart in charts(at):
        (param,) = spec(chart)["params"]
        assert param["name"] == "pick"
        assert param["select"]["fields"] == ["first", "last"]
        assert chart.proto.selection_mode == ["pick"]
