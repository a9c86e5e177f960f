"""The Planning page and the main page's summary line through AppTest: the forecast's licenses
with the days left, the month's top-up with its cost, allowance bands and the seats lists."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pandas as pd
import pytest

from metrics.views import BANDS
from tests import datasets as d
from tests.app_support import (
    END,
    assert_clean,
    charts,
    new_app,
    open_page,
    plain,
    record_csvs,
    rows,
    texts,
)

PLANNING = "app_pages/planning.py"


def open_planning(**query):
    return open_page(PLANNING, **query)


def frame(at, key: str) -> pd.DataFrame:
    """One of the page's tables, told apart by its columns (a table without selection has no
    widget id to find it by)."""
    tell = {
        "risk_table": lambda f: "license_id" in f.columns,
        "lapsed_table": lambda f: "days_inactive" in f.columns,
        "never_table": lambda f: "license_id" not in f.columns and "days_inactive" not in f,
    }[key]
    (found,) = [x.value for x in at.dataframe if tell(x.value)]
    return found


def test_who_runs_out_is_the_engines_forecast_with_the_days_left(app_env, small_ds):
    forecast = small_ds.forecast(END)
    assert forecast.at_risk, "the small organization should have somebody at risk"
    at = open_planning()
    assert at.title[0].value == "Planning"
    shown = frame(at, "risk_table")
    assert list(zip(shown["user_id"], shown["license_id"], strict=True)) == [
        (r.user_id, r.license_id) for r in forecast.at_risk
    ]
    names = small_ds.users.set_index("user_id")["name"]
    for (_, row), risk in zip(shown.iterrows(), forecast.at_risk, strict=True):
        assert row["name"] == names[risk.user_id]
        assert row["spent"] == pytest.approx(risk.spent / 1e6)
        assert row["allowance"] == pytest.approx(risk.allowance / 1e6)
        assert row["projected_hit_day"] == risk.projected_hit_day
        assert row["days_to_hit"] == (risk.projected_hit_day - END).days
        assert row["resets_on"] == risk.period_end + timedelta(days=1)
        assert row["days_to_reset"] == (risk.period_end - END).days + 1
        assert 0 < row["days_to_hit"] < row["days_to_reset"]
    users = len({r.user_id for r in forecast.at_risk})
    assert any(plain(m.value).startswith(f"**{users} user") for m in at.main.markdown)


def test_the_months_top_up_so_far_and_projected_with_their_cost(app_env, small_ds):
    forecast = small_ds.forecast(END)
    at = open_planning(price="2")
    by_label = {m.label: m for m in at.metric}
    spent = float(by_label["So far (through Nov 24)"].value)
    projected = float(by_label["Projected for the whole month"].value)
    assert spent == pytest.approx(forecast.topup_spent / 1e6)
    assert projected == pytest.approx(forecast.topup_projected / 1e6)
    assert projected >= spent
    estimates = [
        float(m.group(1).replace(",", ""))
        for m in (
            re.fullmatch(r"≈ \$([\d,.]+) at \$2\.00 per credit", s) for s in texts(at.main.caption)
        )
        if m
    ]
    assert estimates == [pytest.approx(2 * spent, abs=0.5), pytest.approx(2 * projected, abs=0.5)]
    assert any("Top-up AI Credits in November 2026" in h.value for h in at.subheader)


def test_a_team_narrows_the_forecast_as_the_engine_does(app_env, small_ds):
    """The page narrows the organization's forecast to the team's users; the engine's own
    team forecast must list exactly the same licenses."""
    counts = pd.Series(
        [
            small_ds.users.set_index("user_id").loc[r.user_id, "team"]
            for r in small_ds.forecast(END).at_risk
        ]
    ).value_counts()
    team = counts.index[0]
    at = open_planning(team=[team])
    shown = frame(at, "risk_table")
    engine = small_ds.forecast(END, [team])
    assert shown["license_id"].tolist() == [r.license_id for r in engine.at_risk]
    assert set(shown["team"]) == {team}
    by_label = {m.label: m for m in at.metric}
    assert float(by_label["Projected for the whole month"].value) == pytest.approx(
        engine.topup_projected / 1e6
    )


def test_allowance_bands_and_seat_lists_follow_the_seats_answer(app_env, small_ds):
    seats = small_ds.seats(END)
    at = open_planning()
    (bands,) = [c for c in charts(at) if "band" in rows(c).columns]
    drawn = rows(bands)
    assert drawn["band"].tolist() == list(BANDS)
    counts = seats["band"].value_counts()
    assert drawn["users"].tolist() == [int(counts.get(b, 0)) for b in BANDS]
    assert drawn["users"].sum() > 0

    never = seats[seats["licensed"] & (seats["requests"] == 0)]
    assert sorted(frame(at, "never_table")["user_id"]) == sorted(never["user_id"])
    lapsed = seats[seats["last_active"].map(lambda x: x is not None and x < END - timedelta(29))]
    shown = frame(at, "lapsed_table")
    assert sorted(shown["user_id"]) == sorted(lapsed["user_id"])
    assert (shown["days_inactive"] >= 30).all()
    by_label = {m.label: m for m in at.metric}
    assert by_label["Never made a counted request"].value == f"{len(never):,}"
    assert by_label["Lapsed"].value == f"{len(lapsed):,}"
    assert by_label["Licensed now"].value == f"{int(seats['licensed'].sum()):,}"


def test_the_main_page_says_how_many_run_out_and_links_to_planning(app_env, small_ds):
    at = new_app()
    at.run()
    assert_clean(at)
    users = len({r.user_id for r in small_ds.forecast(END).at_risk})
    line = plain(at.main.markdown[0].value)
    expected = f"**{users} users are** expected to run out of AI Credits before their quota"
    assert expected in line
    assert "as of Nov 24, 2026, all teams" in line
    links = [
        x
        for x in at.get("page_link")
        if x.proto.page == "app_pages/planning.py" or x.proto.label == "Planning"
    ]
    assert links


def test_nobody_at_risk_is_said_in_words(app_env, small_ds):
    teams = {
        small_ds.users.set_index("user_id").loc[r.user_id, "team"]
        for r in small_ds.forecast(END).at_risk
    }
    calm = next(t for t in small_ds.teams if t not in teams)
    at = new_app(team=[calm])
    at.run()
    assert "Nobody is expected to run out" in plain(at.main.markdown[0].value)
    at.switch_page(PLANNING).run()
    assert_clean(at)
    assert any("Nobody is expected to run out" in i for i in texts(at.info))
    # Said once: no "0 users (0 licenses)" line above it, and no empty table.
    assert not any("0 users" in plain(m.value) for m in at.main.markdown)
    assert not [df for df in at.dataframe if "license_id" in df.value.columns]


def test_the_summary_line_after_a_team_change_is_the_one_a_fresh_load_shows(app_env, small_ds):
    """Before the server has made the forecast, the charts come before it fills its line; a
    rerun with it made writes the line at once. Either way there is one line, in one place."""
    teams = {
        small_ds.users.set_index("user_id").loc[r.user_id, "team"]
        for r in small_ds.forecast(END).at_risk
    }
    calm = next(t for t in small_ds.teams if t not in teams)
    at = new_app()
    at.run()
    at.multiselect(key="team").set_value([calm]).run()
    assert_clean(at)
    fresh = new_app(team=[calm])
    fresh.run()

    def lines(app):
        return [plain(m.value) for m in app.main.markdown if "run out of AI Credits" in m.value]

    assert lines(at) == lines(fresh)
    assert len(lines(at)) == 1 and "Nobody is expected to run out" in lines(at)[0]
    assert plain(at.main.markdown[0].value) == lines(at)[0]
    assert not [m for m in at.main.markdown if "Looking ahead" in m.value]


@pytest.fixture
def seats_dataset(tmp_path):
    """A licensed user who never made a request and one who stopped months ago, both with
    names a spreadsheet would run."""
    users = [
        d.user("u1", name="=cmd|' /C calc'!A0"),
        d.user("u2", name="+1+1", team="-Ops"),
        d.user("u3", name="Ann Lee"),
    ]
    licenses = [d.license_(f"l{i}", f"u{i}", 10.0) for i in (1, 2, 3)]
    requests = [
        d.request("r1", "2026-08-03 09:00", "u2", "l2", 2),
        d.request("r2", "2026-11-20 09:00", "u3", "l3", 2),
    ]
    return d.write_dataset(tmp_path / "seats", users, licenses, requests)


def test_seat_csvs_cannot_run_as_formulas(app_env, seats_dataset, monkeypatch):
    written = record_csvs(monkeypatch)
    at = open_planning(dataset=str(seats_dataset))
    frames = [pd.read_csv(io.BytesIO(b), keep_default_na=False) for b in written]
    never = next(f for f in frames if "requests" in f.columns and "last_active" not in f.columns)
    lapsed = next(f for f in frames if "days_inactive" in f.columns)
    assert never.columns.tolist() == ["user_id", "name", "email", "team", "licensed", "requests"]
    assert lapsed.columns.tolist() == [
        *["user_id", "name", "email", "team", "licensed"],
        *["last_active", "days_inactive", "requests"],
    ]
    assert never["name"].tolist() == ["'=cmd|' /C calc'!A0"]
    assert lapsed["name"].tolist() == ["'+1+1"]
    assert lapsed["team"].tolist() == ["'-Ops"]
    assert lapsed["days_inactive"].tolist() == [(END - pd.Timestamp("2026-08-03").date()).days]
    assert lapsed["requests"].dtype.kind == "i"
    assert "Ann Lee" not in set(never["name"]) | set(lapsed["name"])
    assert not at.exception
