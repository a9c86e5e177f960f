"""What the app needs beyond the contract: drill-downs, tool split and standings, consistent with
the contract's numbers on a generated organization."""

from datetime import date
from pathlib import Path

import pytest

import fixtures
import metrics
from metrics import Granularity, Period, Tool
from tests.datasets import license_, request, topup, user, write_dataset

ROOT = Path(__file__).resolve().parents[1]

END = date(2026, 6, 30)


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    root = tmp_path_factory.mktemp("api") / "small"
    fixtures.generate(root, fixtures.GeneratorConfig.preset("small", end=END, seed=11))
    return metrics.open_dataset(root, cache_dir=False)


def test_bucket_users_add_up_to_the_bars(org):
    period = org.period("last-3-months", END)
    r = org.report(period, Granularity.MONTH)
    for i, b in enumerate(r.buckets):
        people = org.bucket_users(b.first, b.last)
        active = people[people["requests"] > 0]
        assert len(active) == r.active_users.series[i]
        assert round(people["builtin"].sum(), 6) == pytest.approx(r.credits.builtin_series[i])
        assert round(people["topup"].sum(), 6) == pytest.approx(r.credits.topup_series[i])
        assert int(people["hit_limit"].sum()) == r.limit_hits.series[i]
    assert r.limit_hits.users > 0, "the small preset should have users who hit a limit"


def test_tool_split_adds_up_and_tool_filter_narrows(org):
    period = org.period("last-3-months", END)
    r = org.report(period, "week")
    split = [org.report(period, "week", tools=[t]) for t in Tool]
    for k in ("micro_builtin", "micro_topup"):
        per_tool = [getattr(s.credits, k) for s in split]
        assert [sum(v) for v in zip(*per_tool, strict=True)] == list(getattr(r.credits, k))
    junie = split[0]
    pairs = zip(junie.active_users.series, r.active_users.series, strict=True)
    assert all(a <= b for a, b in pairs)
    assert 0 < junie.credits.total < r.credits.total
    assert junie.limit_hits == r.limit_hits  # hits ignore the tool filter


def test_users_overview_lists_every_user_with_period_sums(org):
    period = org.period("last-3-months", END)
    r = org.report(period)
    ov = org.users_overview(period)
    assert len(ov) == org.n_users
    assert ov["total"].sum() == pytest.approx(r.credits.total)
    assert (ov["requests"] > 0).sum() == r.active_users.total
    assert (ov["near_limit"] == (ov["share_used"].fillna(0) >= 0.8)).all()
    team = org.teams[0]
    assert set(org.users_overview(period, teams=[team])["team"]) == {team}


def test_standings_of_the_current_quota_period(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1"), user("u2")],
        [
            license_("a", "u1", 10),
            license_("b", "u1", 20, plan="AI Ultimate", anchor="2026-03-10 00:00"),
            license_("old", "u2", 10, until="2026-03-01"),
            license_("c", "u2", 10, plan="AI Pro", valid_from="2026-03-01"),
        ],
        [
            request("r1", "2026-02-27 10:00", "u1", "a", 9),  # previous month: not current
            request("r2", "2026-03-02 10:00", "u1", "a", 8.5),
            request("r3", "2026-03-09 10:00", "u1", "b", 5),  # previous cycle of b
            request("r4", "2026-03-12 10:00", "u1", "b", 4),
            request("r5", "2026-03-20 10:00", "u1", "a", 1),  # after as_of: not yet spent
            request("r6", "2026-03-03 10:00", "u2", "c", 12),
        ],
        topups=[topup(None, "2026-01-01", 2), topup("u2", "2026-03-05", 5)],
    )
    ds = metrics.open_dataset(root, cache_dir=False)
    st = ds.standings(date(2026, 3, 15)).set_index("license_id")
    assert set(st.index) == {"a", "b", "c"}  # "old" was revoked
    assert st.loc["a", "spent"] == 8.5 and st.loc["a", "allowance"] == 12
    assert (st.loc["a", "period_start"], st.loc["a", "period_end"]) == (
        date(2026, 3, 1),
        date(2026, 3, 31),
    )
    assert st.loc["b", "spent"] == 4 and st.loc["b", "period_start"] == date(2026, 3, 10)
    assert st.loc["b", "period_end"] == date(2026, 4, 8)
    assert st.loc["c", "allowance"] == 15 and st.loc["c", "topup_used"] == 2
    ov = ds.users_overview(Period(date(2026, 3, 1), date(2026, 3, 15))).set_index("user_id")
    assert ov.loc["u1", "licenses"] == 2 and ov.loc["u1", "license_id"] == "a"
    assert (ov.loc["u1", "quota_start"], ov.loc["u1", "quota_end"]) == (
        date(2026, 3, 1),
        date(2026, 3, 31),
    )
    assert ov.loc["u1", "share_used"] == pytest.approx(8.5 / 12)
    assert not ov.loc["u1", "near_limit"]  # 71% of the fullest license
    assert ov.loc["u1", "last_active"] == date(2026, 3, 12)
    assert ov.loc["u2", "near_limit"] and ov.loc["u2", "share_used"] == pytest.approx(12 / 15)


def test_the_fullest_license_is_the_largest_share_then_the_most_spent_then_the_first_id(
    tmp_path,
):
    licenses = [license_(lid, uid, quota) for lid, uid, quota in LICENSES]
    requests = [
        request(f"r{i}", "2026-03-02 10:00", uid, lid, c)
        for i, (uid, lid, c) in enumerate([("u1", "small", 5), ("u1", "big", 10), ("u2", "y", 3)])
    ]
    root = write_dataset(tmp_path, [user("u1"), user("u2"), user("u3")], licenses, requests)
    ds = metrics.open_dataset(root, cache_dir=False)
    ov = ds.users_overview(Period(date(2026, 3, 1), date(2026, 3, 15))).set_index("user_id")
    assert ov.loc["u1", "license_id"] == "big"  # half used, as is "small", but 10 spent
    assert ov.loc["u1", "share_used"] == 0.5 and ov.loc["u1", "spent"] == 10
    assert ov.loc["u2", "license_id"] == "y"  # 3 of 10 against nothing of "x" or "z"
    assert ov.loc["u3", "license_id"] == "p"  # nothing spent of either: the first id
    assert ov["licenses"].to_dict() == {"u1": 2, "u2": 3, "u3": 2}


LICENSES = [
    ("small", "u1", 10),
    ("big", "u1", 20),
    ("x", "u2", 10),
    ("y", "u2", 10),
    ("z", "u2", 0),
    ("q", "u3", 10),
    ("p", "u3", 10),
]


def test_every_public_name_resolves():
    missing = [n for n in metrics.__all__ if getattr(metrics, n, None) is None]
    assert not missing, missing
