"""The Users page through AppTest: one row per user, search, sort and near-limit marks."""

from __future__ import annotations

from metrics import Period, PeriodName
from tests.app_support import END, assert_clean, open_page


def open_users(**query):
    return open_page("app_pages/users.py", **query)


def test_one_row_per_user_matching_the_overview(app_env, small_ds):
    at = open_users(period="Last 3 months")
    assert at.title[0].value == "Users"
    table = at.dataframe[0].value
    expected = small_ds.users_overview(Period.named(PeriodName.LAST_3_MONTHS, END))
    assert sorted(table["user_id"]) == sorted(expected["user_id"])
    merged = table.merge(expected, on="user_id", suffixes=("", "_api"))
    assert (merged["requests"] == merged["requests_api"]).all()
    assert (merged["limit_hits"] == merged["limit_hits_api"]).all()
    near = merged[merged["near_limit_api"]]
    assert len(near) > 0
    assert set(near["status"]) <= {"🟠 Near limit", "🔴 At limit"}
    assert (merged.loc[~merged["near_limit_api"], "status"] == "").all()
    shares = table["share_used"].fillna(-1).tolist()
    assert shares == sorted(shares, reverse=True)


def test_search_sort_and_near_limit_toggle(app_env, small_ds):
    at = open_users(period="Last 3 months")
    name = at.dataframe[0].value["name"].iloc[0]
    at.text_input(key="users_q").input(name.split()[0].upper()).run()
    assert_clean(at)
    found = at.dataframe[0].value
    assert name in found["name"].tolist()
    assert len(found) < len(small_ds.users)

    at.text_input(key="users_q").input("").run()
    at.selectbox(key="users_sort").set_value("Name").run()
    names = at.dataframe[0].value["name"].tolist()
    assert names == sorted(names)

    at.toggle(key="users_near").set_value(True).run()
    table = at.dataframe[0].value
    assert len(table) > 0
    assert (table["share_used"] >= 0.8).all()


def test_team_filter_from_the_sidebar_applies(app_env, small_ds):
    team = small_ds.teams[0]
    at = open_users(team=[team])
    assert set(at.dataframe[0].value["team"]) == {team}
