"""The Users page through AppTest: one consistent row per user, search, sort, marks, CSV."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from metrics import Period, PeriodName
from tests import datasets as d
from tests.app_support import END, assert_clean, new_app, open_page, plain, record_csvs

PERIOD = Period.named(PeriodName.LAST_3_MONTHS, END)


def open_users(**query):
    return open_page("app_pages/users.py", **query)


def table(at) -> pd.DataFrame:
    """The shown columns, with the rows' user ids (the table's hidden index)."""
    return at.dataframe[0].value.reset_index()


def test_one_row_per_user_matching_the_engine(app_env, small_ds):
    at = open_users(period="Last 3 months")
    assert at.title[0].value == "Users"
    shown = table(at)
    expected = small_ds.users_overview(PERIOD)
    assert sorted(shown["user_id"]) == sorted(expected["user_id"])
    merged = shown.merge(expected, on="user_id", suffixes=("", "_api"))
    assert (merged["limit_hits"] == merged["limit_hits_api"]).all()
    assert (merged["total"] == merged["total_api"]).all()
    assert merged["last_active"].tolist() == merged["last_active_api"].tolist()
    near = merged[merged["near_limit"]]
    assert len(near) > 0
    assert set(near["status"]) <= {"Near limit", "At limit"}
    assert (merged.loc[~merged["near_limit"], "status"] == "").all()
    shares = shown["share_used"].fillna(-1).tolist()
    assert shares == sorted(shares, reverse=True)
    # A user never active, or without a license, shows a dash where Streamlit says "None".
    assert shown["last_active"].isna().any() and shown["allowance"].isna().any()
    assert shown.loc[shown["allowance"].isna(), "license"].isna().all()
    assert at.dataframe[0].proto.placeholder == "—"


def test_every_column_of_a_row_describes_the_same_license(app_env, small_ds):
    """A user with two licenses: the fullest one, never sums mixed with a maximum."""
    standings = small_ds.standings(PERIOD.end)
    counts = standings.groupby("user_id").size()
    several = counts[counts > 1].index
    assert len(several) >= 1

    shown = table(open_users(period="Last 3 months")).set_index("user_id")
    quota = small_ds.users_overview(PERIOD).set_index("user_id")["quota"]
    for uid in several:
        held = standings[standings["user_id"] == uid]
        fullest = held.sort_values("share_used").iloc[-1]
        row = shown.loc[uid]
        assert row["share_used"] == pytest.approx(held["share_used"].max())
        assert row["license"] == f"{fullest['plan']} (+{len(held) - 1})"
        assert row["allowance"] == pytest.approx(fullest["allowance"])
        assert row["spent"] == pytest.approx(fullest["spent"])
        assert row["topup_limit"] == pytest.approx(fullest["topup_limit"])
        assert row["share_used"] == pytest.approx(row["spent"] / row["allowance"])
        assert row["allowance"] == pytest.approx(quota[uid] + row["topup_limit"])
    for uid, r in shown.dropna(subset=["allowance"]).iterrows():
        assert r["allowance"] == pytest.approx(quota[uid] + r["topup_limit"])
        if r["allowance"] > 0:
            assert r["share_used"] == pytest.approx(r["spent"] / r["allowance"])


def test_the_table_fits_without_hiding_columns(app_env):
    at = open_users()
    frame = at.dataframe[0]
    order = list(frame.proto.column_order)
    assert order[0] == "name" and len(order) <= 11
    config = frame.proto.columns
    import json

    columns = json.loads(config)
    assert columns["name"]["pinned"] is True
    # What a 1366-pixel window leaves the table with the sidebar open.
    assert sum(int(columns[c]["width"]) for c in order) <= 904


def test_search_sort_and_near_limit_toggle_live_in_the_url(app_env, small_ds):
    at = open_users(period="Last 3 months")
    name = table(at)["name"].iloc[0]
    at.text_input(key="users_q").input(name.split()[0].upper()).run()
    assert_clean(at)
    found = table(at)
    assert name in found["name"].tolist()
    assert len(found) < len(small_ds.users)

    at.text_input(key="users_q").input("").run()
    at.selectbox(key="users_sort").set_value("Name").run()
    names = table(at)["name"].tolist()
    assert names == sorted(names)

    at.toggle(key="users_near").set_value(True).run()
    shown = table(at)
    assert len(shown) > 0
    assert (shown["share_used"] >= 0.8).all()

    # AppTest does not write bound widgets back to its URL; a link is read, though (the
    # browser tests check the other direction).
    again = open_users(period="Last 3 months", users_sort="Name", users_near="true")
    assert again.selectbox(key="users_sort").value == "Name"
    assert again.toggle(key="users_near").value is True
    assert table(again)["user_id"].tolist() == shown["user_id"].tolist()


def test_team_filter_from_the_sidebar_applies(app_env, small_ds):
    team = small_ds.teams[0]
    at = open_users(team=[team])
    assert set(table(at)["team"]) == {team}


def test_users_without_a_team_are_listed_as_no_team(app_env, small_ds):
    at = open_users(team=["No team"])
    shown = table(at)
    expected = small_ds.users[small_ds.users["team"].isna()]["user_id"]
    assert sorted(shown["user_id"]) == sorted(expected)
    assert set(shown["team"]) == {"No team"}


@pytest.fixture
def hostile_dataset(tmp_path):
    """Names that a spreadsheet would run, and Markdown where only text belongs."""
    names = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2", "@SUM(A1)", "Ann Lee"]
    users = [
        d.user(f"u{i}", team="**Team** ![t](http://evil.example/t.png)", name=n)
        for i, n in enumerate(names)
    ]
    licenses = [d.license_(f"l{i}", f"u{i}", 10.0) for i in range(len(names))]
    requests = [d.request(f"r{i}", "2026-11-02 09:00", f"u{i}", f"l{i}", 4) for i in range(5)]
    root = d.write_dataset(tmp_path / "hostile", users, licenses, requests)
    (root / "organization.json").write_text(
        '{"name": "![logo](http://evil.example/logo.png) :red[Acme] $x$", "timezone": "UTC"}'
    )
    return root


def test_csv_cells_cannot_run_as_formulas(app_env, hostile_dataset, monkeypatch):
    written = record_csvs(monkeypatch)
    at = open_users(dataset=str(hostile_dataset), period="Last 30 days")
    tables = [pd.read_csv(io.BytesIO(b), keep_default_na=False) for b in written]
    (back,) = [t for t in tables if "name" in t.columns]  # the charts' series have no names
    assert sorted(back["name"]) == sorted(
        ['\'=HYPERLINK("http://evil.example","x")', "'+1+1", "'-2", "'@SUM(A1)", "Ann Lee"]
    )
    assert back["total"].tolist() == [4.0] * 5
    assert back["requests"].dtype.kind == "i"
    assert plain(at.caption[0].value).startswith("![logo](http://evil.example/logo.png)")


def test_no_csv_is_written_until_its_button_is_clicked(app_env, hostile_dataset, monkeypatch):
    """On 100,000 users writing the table's CSV took seconds on every rerun."""
    from ui import safety

    calls = []
    monkeypatch.setattr(safety, "csv_bytes", lambda frame: calls.append(frame) or b"")
    at = open_users(dataset=str(hostile_dataset), period="Last 30 days")
    at.run()
    assert at.get("download_button") and calls == []


def test_markdown_in_names_stays_literal(app_env, hostile_dataset):
    team = "**Team** ![t](http://evil.example/t.png)"
    at = new_app(dataset=str(hostile_dataset), period="Last 30 days", team=[team])
    at.run()
    assert_clean(at)
    org = at.sidebar.markdown[0].value
    assert "![" not in org and "\\!\\[logo\\]" in org
    assert plain(org) == "**![logo](http://evil.example/logo.png) :red[Acme] $x$**"
    assert at.multiselect(key="team").value == [team]
    caption = at.main.caption[0].value
    assert "\\*\\*Team\\*\\* \\!\\[t\\]" in caption
    assert plain(caption).endswith(team)


def test_a_search_without_a_match_says_so_instead_of_an_empty_table(app_env):
    at = open_users(period="Last 3 months")
    at.text_input(key="users_q").input("zzzznobody").run()
    assert_clean(at)
    assert len(at.dataframe) == 0
    assert [i.value for i in at.info] == ["No user matches the search “zzzznobody”."]
    at.text_input(key="users_q").input("").run()
    assert len(at.dataframe) == 1 and not at.info
