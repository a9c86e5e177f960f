"""The Teams page through AppTest: one row per team as the engine answers, the adoption chart,
sorting from the URL, deltas of the same kind, a team opening the main page, and the CSV."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from metrics import Period, PeriodName
from tests import datasets as d
from tests.app_support import (
    END,
    assert_clean,
    charts,
    metrics_by_label,
    open_page,
    plain,
    record_csvs,
    spec,
    texts,
)

PERIOD = Period.named(PeriodName.LAST_3_MONTHS, END)
TEAMS = "app_pages/teams.py"


def open_teams(**query):
    return open_page(TEAMS, **query)


def table(at) -> pd.DataFrame:
    return at.dataframe[0].value


def layers(at) -> list[dict]:
    (chart,) = charts(at)
    return spec(chart)["layer"]


def layer_rows(at, i: int) -> pd.DataFrame:
    """The inline rows of one layer of the adoption chart (each layer names its dataset)."""
    import pyarrow as pa

    (chart,) = charts(at)
    name = layers(at)[i]["data"]["name"]
    (dataset,) = [x for x in chart.proto.datasets if x.name == name]
    return pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()


def test_one_row_per_team_as_the_engine_answers(app_env, small_ds):
    at = open_teams(period="Last 3 months")
    assert at.title[0].value == "Teams"
    shown = table(at).set_index("label")
    report = small_ds.by_team(PERIOD)
    assert len(shown) == len(report.teams) == len(small_ds.teams) + 1
    for row in report.teams:
        got = shown.loc[row.team or "No team"]
        assert got["licensed_users"] == row.licensed_users
        assert got["active_users"] == row.active_users
        if row.adoption is None:
            assert pd.isna(got["adoption"])
        else:
            assert got["adoption"] == pytest.approx(row.adoption)
        assert got["builtin"] == pytest.approx(row.credits.builtin)
        assert got["topup"] == pytest.approx(row.credits.topup)
        assert got["total"] == pytest.approx(row.credits.total)
        assert got["limit_hit_users"] == row.limit_hit_users
        if row.active_users:
            assert got["per_active"] == pytest.approx(row.credits.total / row.active_users)
        assert got["cost"] == pytest.approx(row.credits.total)  # the default $1.00 a credit
    # Organization figures, whichever teams are shown.
    m = metrics_by_label(at)
    org = report.organization
    assert int(m["Licensed users"].value) == org.licensed_users
    assert int(m["Active users"].value) == org.active_users
    assert float(m["Adoption"].value) == pytest.approx(round(100 * org.adoption, 1))
    assert float(m["AI Credits"].value) == pytest.approx(org.credits.total)
    assert int(m["Users who hit their limit"].value) == org.limit_hit_users
    assert any(
        f"≈ ${org.credits.total:,.0f} at $1.00 per credit" in c for c in texts(at.main.caption)
    )


def test_least_adopting_teams_come_first_by_default(app_env, small_ds):
    at = open_teams(period="Last 3 months")
    assert at.selectbox(key="teams_sort").value == "Adoption, lowest first"
    adoption = table(at)["adoption"].dropna().tolist()
    assert adoption == sorted(adoption)
    assert len(set(adoption)) > 1


@pytest.mark.parametrize(
    ("sort", "column", "descending"),
    [
        ("AI Credits", "total", True),
        ("Users who hit their limit", "limit_hit_users", True),
        ("AI Credits per active user", "per_active", True),
        ("Team", "label", False),
    ],
)
def test_the_sort_is_read_from_the_url(app_env, sort, column, descending):
    at = open_teams(period="Last 3 months", teams_sort=sort)
    assert at.selectbox(key="teams_sort").value == sort
    values = table(at)[column].dropna().tolist()
    assert values == sorted(values, reverse=descending)


def test_the_chart_draws_adoption_least_first_against_the_organization(app_env, small_ds):
    at = open_teams(period="Last 3 months", teams_sort="Team")
    report = small_ds.by_team(PERIOD)
    bars, rule, label = layers(at)
    # The order is explicit, whatever the table's sort: a redraw keeps it.
    assert bars["encoding"]["y"]["sort"] == {"field": "rank", "op": "min", "order": "ascending"}
    assert bars["encoding"]["x"]["scale"]["domain"] == [0, 1]
    drawn = layer_rows(at, 0).sort_values("rank")
    expected = sorted(
        (r.adoption, r.team or "No team") for r in report.teams if r.adoption is not None
    )
    assert drawn["label"].tolist() == [label for _, label in expected]
    assert drawn["adoption"].tolist() == pytest.approx([a for a, _ in expected])
    org = report.organization.adoption
    assert layer_rows(at, 1)["adoption"].tolist() == [pytest.approx(org)]
    assert layer_rows(at, 2)["text"].tolist() == [f"Organization {org:.1%}"]
    below = drawn[drawn["adoption"] < org]
    assert set(below["series"]) == {"Below the organization"}
    assert set(drawn.loc[drawn["adoption"] >= org, "series"]) == {"At or above the organization"}
    (param,) = spec(charts(at)[0])["params"]
    assert param["name"] == "team_pick" and param["select"]["fields"] == ["label"]
    assert charts(at)[0].proto.selection_mode == ["team_pick"]


@pytest.mark.parametrize(
    ("label", "name", "previous"),
    [
        ("This month", PeriodName.MONTH_TO_DATE, "vs Oct 1 – Oct 24, 2026"),
        ("Last 30 days", PeriodName.LAST_30_DAYS, "vs Sep 26 – Oct 25, 2026"),
    ],
)
def test_deltas_compare_with_the_period_of_the_same_kind(app_env, small_ds, label, name, previous):
    at = open_teams(period=label)
    period = Period.named(name, END)
    now = small_ds.by_team(period).organization
    before = small_ds.by_team(name.previous(period)).organization
    m = metrics_by_label(at)
    said = (
        f"Changes are against {previous.removeprefix('vs ')}, the period before of the same kind."
    )
    assert any(said in c.value for c in at.main.caption)
    assert m["Active users"].proto.delta_description == ""
    assert int(m["Active users"].delta) == now.active_users - before.active_users
    assert int(m["Licensed users"].delta) == now.licensed_users - before.licensed_users
    assert float(m["AI Credits"].delta) == pytest.approx(
        now.credits.total - before.credits.total, abs=0.05
    )
    points = round(100 * now.adoption, 1) - round(100 * before.adoption, 1)
    assert m["Adoption"].delta == f"{points:+.1f} pts"


def test_without_earlier_data_there_is_a_note_instead_of_deltas(app_env):
    at = open_teams(period="All time")
    for metric in metrics_by_label(at).values():
        assert metric.delta == "No earlier data"


def test_the_team_filter_limits_the_rows_not_the_organization(app_env, small_ds):
    team = small_ds.teams[0]
    at = open_teams(period="Last 3 months", team=[team, "No team"])
    assert sorted(table(at)["label"]) == sorted([team, "No team"])
    assert {r["label"] for _, r in layer_rows(at, 0).iterrows()} <= {team, "No team"}
    org = small_ds.by_team(PERIOD).organization
    assert int(metrics_by_label(at)["Licensed users"].value) == org.licensed_users


def test_a_picked_team_opens_the_main_page_filtered_to_it(app_env, small_ds):
    """What a click's callback leaves behind (the team filter set, a switch asked for) makes
    the next run land on the main page with that team; the browser tests do the click."""
    team = small_ds.teams[1]
    at = open_teams(period="Last 3 months")
    at.session_state["team"] = [team]
    at.session_state["_open_team"] = True
    at.run()
    assert_clean(at)
    assert at.title[0].value == "AI adoption and usage"
    assert at.multiselect(key="team").value == [team]
    assert at.selectbox(key="period").value == "Last 3 months"
    report = small_ds.report(PERIOD, teams=[team])
    assert int(metrics_by_label(at)["Active users"].value) == report.active_users.total
    assert plain(at.main.caption[0].value).endswith(team)


def test_the_price_setting_turns_credits_into_money(app_env, small_ds, monkeypatch):
    monkeypatch.setenv("AI_CONSOLE_CREDIT_PRICE", "0.5")
    monkeypatch.setenv("AI_CONSOLE_CURRENCY", "eur")
    at = open_teams(period="Last 3 months")
    assert at.number_input(key="price").label == "Price per AI Credit (EUR)"
    assert at.number_input(key="price").value == 0.5
    shown = table(at)
    assert (shown["cost"] == shown["total"] * 0.5).all()
    org = small_ds.by_team(PERIOD).organization
    assert any(
        f"≈ €{org.credits.total * 0.5:,.0f} at €0.50 per credit" in c
        for c in texts(at.main.caption)
    )


def test_a_price_in_the_url_wins_over_the_setting(app_env):
    at = open_teams(period="Last 3 months", price="2.5")
    assert at.number_input(key="price").value == 2.5
    shown = table(at)
    assert shown["cost"].tolist() == pytest.approx((shown["total"] * 2.5).tolist())


@pytest.mark.parametrize(("price", "currency"), [("free", "USD"), ("-1", "USD"), ("1", "dollars")])
def test_a_bad_price_setting_is_said_and_the_default_used(app_env, monkeypatch, price, currency):
    monkeypatch.setenv("AI_CONSOLE_CREDIT_PRICE", price)
    monkeypatch.setenv("AI_CONSOLE_CURRENCY", currency)
    at = open_teams()
    (warning,) = texts(at.sidebar.warning)
    assert "AI_CONSOLE_CREDIT_PRICE" in warning or "AI_CONSOLE_CURRENCY" in warning
    assert at.number_input(key="price").value == 1.0
    assert at.number_input(key="price").label == "Price per AI Credit (USD)"


@pytest.fixture
def hostile_teams(tmp_path):
    teams = ['=HYPERLINK("http://evil.example","x")', "+SUM(1)", "**Bold** team", None]
    users = [d.user(f"u{i}", team=t, name=f"User {i}") for i, t in enumerate(teams)]
    licenses = [d.license_(f"l{i}", f"u{i}", 10.0) for i in range(len(teams))]
    requests = [d.request(f"r{i}", "2026-11-02 09:00", f"u{i}", f"l{i}", 2 + i) for i in range(3)]
    return d.write_dataset(tmp_path / "hostile", users, licenses, requests)


def test_the_csv_is_formula_safe_and_carries_the_cost(app_env, hostile_teams, monkeypatch):
    written = record_csvs(monkeypatch)
    at = open_teams(dataset=str(hostile_teams), period="Last 30 days", price="2")
    tables = [pd.read_csv(io.BytesIO(b), keep_default_na=False) for b in written]
    (back,) = [t for t in tables if "team" in t.columns]  # the charts' series have no teams
    assert sorted(back["team"]) == sorted(
        ['\'=HYPERLINK("http://evil.example","x")', "'+SUM(1)", "**Bold** team", "No team"]
    )
    by_team = back.set_index("team")
    assert by_team.loc["'+SUM(1)", "total_credits"] == 3.0
    assert by_team.loc["'+SUM(1)", "cost_usd_estimate"] == 6.0
    assert set(back["price_per_credit"]) == {2.0}
    assert by_team.loc["No team", "active_users"] == 0
    assert by_team.loc["No team", "adoption"] == 0.0
    assert back["licensed_users"].dtype.kind == "i"
    # Names in the chart's caption and the table stay text.
    assert not any("**Bold**" in c.value for c in at.main.caption)


def test_the_users_without_a_team_stay_none_in_the_teams_frame(small_ds):
    """A picked "No team" row must set the filter to None (pandas would make it a missing
    string, which the sidebar's Teams would drop)."""
    from ui import frames
    from ui.cost import Price

    table = frames.teams_frame(small_ds.by_team(PERIOD), Price(), small_ds.teams)
    last = table.sort_values("adoption").set_index("label").loc["No team", "team"]
    assert last is None
    assert table["team"].tolist()[:-1] == list(small_ds.teams)


def test_a_sort_in_place_gives_the_table_the_key_of_a_fresh_load(app_env):
    """Streamlit keeps a table's column widths under its key: a sort in place must give the
    table a new key, the one a fresh load of that sort gives, or the columns stay sized for
    the old first rows."""
    at = open_teams(period="Last 3 months")
    before = at.dataframe[0].proto.id
    at.selectbox(key="teams_sort").set_value("Active users").run()
    fresh = open_teams(period="Last 3 months", teams_sort="Active users")
    assert at.dataframe[0].proto.id != before
    assert at.dataframe[0].proto.id == fresh.dataframe[0].proto.id
    pd.testing.assert_frame_equal(table(at), table(fresh))
