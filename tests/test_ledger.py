"""The quota ledger and the three metrics, rule by rule (sections 2 to 5 of the contract)."""

import zlib
from datetime import date

import pytest

import metrics
from metrics import Granularity, Period
from tests import reference
from tests.datasets import license_, request, topup, user, worked_example, write_dataset


def open_(root, **kw):
    return metrics.open_dataset(root, cache_dir=False, **kw)


def report(root, start, end, gran=None, **kw):
    ds = open_(root, **{k: v for k, v in kw.items() if k == "timezone"})
    teams = kw.get("teams", ())
    return ds.report(Period(date.fromisoformat(start), date.fromisoformat(end)), gran, teams=teams)


@pytest.mark.parametrize("partitioned", [False, True])
def test_worked_example_of_section_7(tmp_path, partitioned):
    root = worked_example(tmp_path / "ds", partitioned=partitioned)
    r = report(root, "2026-01-21", "2026-02-28")
    assert r.to_json() == {
        "timezone": "UTC",
        "start": "2026-01-21",
        "end": "2026-02-28",
        "granularity": "month",
        "buckets": ["2026-01-01", "2026-02-01"],
        "active_users": {"total": 1, "series": [1, 1]},
        "credits": {
            "builtin": 3.0,
            "topup": 3.0,
            "total": 6.0,
            "series": {"builtin": [0.0, 3.0], "topup": [3.0, 0.0], "total": [3.0, 3.0]},
        },
        "limit_hits": {
            "users": 1,
            "peak_daily_users": 1,
            "peak_day": "2026-01-25",
            "series": [1, 0],
        },
    }


def test_period_starting_after_the_quota_was_used_up_still_counts_earlier_spending(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1")],
        [license_("l1", "u1", 10)],
        [
            request("r1", "2026-03-02 10:00", "u1", "l1", 9),
            request("r2", "2026-03-20 10:00", "u1", "l1", 4),
        ],
    )
    r = report(root, "2026-03-15", "2026-03-31")
    assert r.credits.builtin == 1.0
    assert r.credits.topup == 3.0
    # No top-up limit: the allowance is the quota, crossed on March 20.
    assert r.limit_hits.users == 1
    assert r.limit_hits.peak_day == date(2026, 3, 20)


def test_excluded_tools_and_zero_credit_requests_are_invisible(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1"), user("u2")],
        [license_("l1", "u1", 10), license_("l2", "u2", 10)],
        [
            request("r1", "2026-03-02 10:00", "u1", "l1", 50, tool="code_completion"),
            request("r2", "2026-03-02 11:00", "u1", "l1", 50, tool="next_edit_suggestion"),
            request("r3", "2026-03-02 12:00", "u2", "l2", 0, tool="ai_assistant_chat"),
            request("r4", "2026-03-03 12:00", "u1", "l1", 10, tool="some_new_tool"),
        ],
    )
    r = report(root, "2026-03-01", "2026-03-31")
    assert r.active_users.total == 1
    assert r.credits.builtin == 10.0 and r.credits.topup == 0.0
    # Only r4 counts, and it alone uses the quota up.
    assert r.limit_hits.peak_day == date(2026, 3, 3)


def test_a_user_with_several_licenses_is_hit_as_soon_as_one_is_used_up(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1")],
        [license_("a", "u1", 10), license_("b", "u1", 70, plan="AI Ultimate")],
        [
            request("r1", "2026-03-02 10:00", "u1", "a", 10),
            request("r2", "2026-03-03 10:00", "u1", "b", 5),
        ],
    )
    r = report(root, "2026-03-01", "2026-03-31", "day")
    assert r.limit_hits.users == 1
    assert r.limit_hits.series[1] == 1 and sum(r.limit_hits.series) == 1
    assert r.credits.builtin == 15.0 and r.credits.topup == 0.0


def test_a_raise_after_a_hit_hits_again_only_when_the_raised_allowance_is_used(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1")],
        [license_("l1", "u1", 10)],
        [
            request("r1", "2026-03-02 10:00", "u1", "l1", 12),  # hit: allowance 10 + 2
            request("r2", "2026-03-05 10:00", "u1", "l1", 3),  # spent 15 < raised 20
            request("r3", "2026-03-09 10:00", "u1", "l1", 5),  # 20 >= 20: hit again
            request("r4", "2026-03-10 10:00", "u1", "l1", 1),  # already above: no hit
        ],
        topups=[topup("u1", "2026-01-01", 2), topup("u1", "2026-03-04", 10)],
    )
    r = report(root, "2026-03-01", "2026-03-31", "day")
    hit_days = [b.label.day for b, n in zip(r.buckets, r.limit_hits.series, strict=True) if n]
    assert hit_days == [2, 9]
    assert r.credits.builtin == 10.0 and r.credits.topup == 11.0


def test_a_users_own_limit_wins_over_the_organization_default(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1"), user("u2")],
        [license_("l1", "u1", 10), license_("l2", "u2", 10)],
        [
            request("r1", "2026-03-02 10:00", "u1", "l1", 12),
            request("r2", "2026-03-02 10:00", "u2", "l2", 12),
        ],
        # The default is newer than u1's own row, and still u1's row applies.
        topups=[topup("u1", "2026-01-01", 20), topup(None, "2026-02-01", 1)],
    )
    r = report(root, "2026-03-01", "2026-03-31")
    assert r.limit_hits.users == 1  # u2 (allowance 11) is hit, u1 (allowance 30) is not
    users = open_(root).bucket_users(date(2026, 3, 1), date(2026, 3, 31))
    assert users.set_index("user_id")["hit_limit"].to_dict() == {"u1": False, "u2": True}


def test_newest_limit_before_the_request_applies_not_a_later_one(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1")],
        [license_("l1", "u1", 10)],
        [request("r1", "2026-03-02 10:00", "u1", "l1", 12)],
        topups=[topup(None, "2026-01-01", 1), topup(None, "2026-03-02 10:00:01", 50)],
    )
    assert report(root, "2026-03-01", "2026-03-31").limit_hits.users == 1


def test_timezone_decides_the_quota_month_and_the_day(tmp_path):
    # 23:30 UTC on Jan 31 is 00:30 on Feb 1 in Prague.
    rows = [
        request("r1", "2026-01-20 10:00", "u1", "l1", 8),
        request("r2", "2026-01-31 23:30", "u1", "l1", 4),
    ]
    prague = write_dataset(
        tmp_path / "p", [user("u1")], [license_("l1", "u1", 10)], rows, timezone="Europe/Prague"
    )
    r = report(prague, "2026-01-01", "2026-02-28")
    assert r.credits.builtin_series == (8.0, 4.0) and r.credits.topup == 0.0
    assert r.limit_hits.users == 0
    utc = write_dataset(
        tmp_path / "u", [user("u1")], [license_("l1", "u1", 10)], rows, timezone=None
    )
    r = report(utc, "2026-01-01", "2026-02-28")
    assert r.timezone == "UTC"
    assert r.credits.builtin_series == (10.0, 0.0) and r.credits.topup == 2.0
    assert r.limit_hits.users == 1
    # --tz overrides the organization's timezone everywhere, the ledger included.
    r = report(utc, "2026-01-01", "2026-02-28", timezone="Europe/Prague")
    assert r.timezone == "Europe/Prague" and r.credits.builtin_series == (8.0, 4.0)


def test_ties_in_ts_are_ordered_by_request_id(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1")],
        [license_("l1", "u1", 10)],
        [
            request("b", "2026-03-02 10:00", "u1", "l1", 8, tool="claude_agent"),
            request("a", "2026-03-02 10:00", "u1", "l1", 8, tool="junie"),
        ],
    )
    ds = open_(root)
    march = Period(date(2026, 3, 1), date(2026, 3, 31))
    junie, claude = (
        ds.report(march, "month", tools=[t]).credits for t in ("junie", "claude_agent")
    )
    # "a" comes first and takes 8 of the built-in quota; "b" gets the remaining 2.
    assert (junie.builtin, junie.topup) == (8.0, 0.0)
    assert (claude.builtin, claude.topup) == (2.0, 6.0)


def test_micro_credits_are_exact(tmp_path):
    reqs = [
        request(f"r{i:03d}", f"2026-03-02 10:{i // 60:02d}:{i % 60:02d}", "u1", "l1", 0.1)
        for i in range(100)
    ]
    root = write_dataset(tmp_path, [user("u1")], [license_("l1", "u1", 10)], reqs)
    r = report(root, "2026-03-01", "2026-03-31")
    assert r.credits.builtin == 10.0 and r.credits.topup == 0.0
    assert r.limit_hits.users == 1  # the 100th request reaches exactly 10


def test_empty_buckets_are_present_with_zeros(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1")],
        [license_("l1", "u1", 10)],
        [
            request("r1", "2026-01-10 10:00", "u1", "l1", 1),
            request("r2", "2026-04-10 10:00", "u1", "l1", 1),
        ],
    )
    r = report(root, "2026-01-01", "2026-04-30")
    assert [b.label.isoformat() for b in r.buckets] == [
        "2026-01-01",
        "2026-02-01",
        "2026-03-01",
        "2026-04-01",
    ]
    assert r.active_users.series == (1, 0, 0, 1)
    assert r.credits.total_series == (1.0, 0.0, 0.0, 1.0)


def test_iso_weeks_across_a_year_end(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1")],
        [license_("l1", "u1", 10)],
        [
            request("r1", "2025-12-29 10:00", "u1", "l1", 1),  # Monday of ISO week 2026-W01
            request("r2", "2026-01-04 10:00", "u1", "l1", 1),  # its Sunday
            request("r3", "2026-01-05 10:00", "u1", "l1", 1),
        ],
    )
    r = report(root, "2025-12-24", "2026-01-06", "week")
    assert [b.label.isoformat() for b in r.buckets] == ["2025-12-22", "2025-12-29", "2026-01-05"]
    assert r.buckets[0].partial and not r.buckets[1].partial and r.buckets[2].partial
    assert r.credits.total_series == (0.0, 2.0, 1.0)


def test_year_buckets_and_automatic_granularity(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1")],
        [license_("l1", "u1", 10)],
        [
            request("r1", "2024-06-10 10:00", "u1", "l1", 1),
            request("r2", "2026-06-10 10:00", "u1", "l1", 2),
        ],
    )
    r = report(root, "2024-03-01", "2026-07-01")
    assert r.granularity is Granularity.YEAR
    assert [b.label.isoformat() for b in r.buckets] == ["2024-01-01", "2025-01-01", "2026-01-01"]
    assert r.credits.total_series == (1.0, 0.0, 2.0)
    assert r.active_users.total == 1 and r.active_users.series == (1, 0, 1)


def test_thirty_day_cycles_from_an_anchor_including_before_it(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1")],
        [license_("l1", "u1", 10, anchor="2026-03-10 00:00")],
        [
            # Cycle k=-1 is [Feb 8, Mar 10): these two share it across the month boundary.
            request("r1", "2026-02-20 10:00", "u1", "l1", 6),
            request("r2", "2026-03-05 10:00", "u1", "l1", 6),
            # Cycle k=0 starts on Mar 10: a fresh quota.
            request("r3", "2026-03-10 00:00", "u1", "l1", 6),
            request("r4", "2026-04-08 23:00", "u1", "l1", 6),
            request("r5", "2026-04-09 00:00", "u1", "l1", 6),  # k=1
        ],
    )
    r = report(root, "2026-02-01", "2026-04-30")
    assert r.credits.builtin_series == (6.0, 10.0, 10.0)
    assert r.credits.topup_series == (0.0, 2.0, 2.0)
    assert r.limit_hits.series == (0, 1, 1)


def test_team_filter_keeps_only_those_teams(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1", "Mobile"), user("u2", "Data"), user("u3", None)],
        [license_("l1", "u1"), license_("l2", "u2"), license_("l3", "u3")],
        [
            request("r1", "2026-03-02 10:00", "u1", "l1", 1),
            request("r2", "2026-03-02 10:00", "u2", "l2", 2),
            request("r3", "2026-03-02 10:00", "u3", "l3", 4),
        ],
    )
    assert report(root, "2026-03-01", "2026-03-31").credits.total == 7.0
    r = report(root, "2026-03-01", "2026-03-31", teams={"Mobile", "Data"})
    assert r.credits.total == 3.0 and r.active_users.total == 2


def test_distinct_users_per_bucket_and_period(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1"), user("u2")],
        [license_("l1", "u1"), license_("l2", "u2")],
        [
            request("r1", "2026-01-15 10:00", "u1", "l1", 1),
            request("r2", "2026-01-26 10:00", "u1", "l1", 1),
            request("r3", "2026-02-26 10:00", "u1", "l1", 1),
            request("r4", "2026-02-27 10:00", "u2", "l2", 1),
        ],
    )
    r = report(root, "2026-01-01", "2026-02-28")
    assert r.active_users.series == (1, 2)
    assert r.active_users.total == 2


def test_peak_day_is_the_earliest_with_the_most_users(tmp_path):
    us = [user(f"u{i}") for i in range(4)]
    lics = [license_(f"l{i}", f"u{i}", 1) for i in range(4)]
    reqs = [
        request("r0", "2026-03-03 10:00", "u0", "l0", 1),
        request("r1", "2026-03-05 10:00", "u1", "l1", 1),
        request("r2", "2026-03-05 11:00", "u2", "l2", 1),
        request("r3", "2026-03-09 11:00", "u3", "l3", 1),
        request("r4", "2026-03-09 12:00", "u0", "l0", 0.5),  # already above: no second hit
    ]
    root = write_dataset(tmp_path, us, lics, reqs)
    r = report(root, "2026-03-01", "2026-03-31")
    assert r.limit_hits.users == 4
    assert r.limit_hits.peak_daily_users == 2 and r.limit_hits.peak_day == date(2026, 3, 5)
    empty = report(root, "2026-04-01", "2026-04-30")
    assert empty.limit_hits.peak_daily_users == 0 and empty.limit_hits.peak_day is None
    assert empty.active_users.total == 0


def test_matches_the_reference_on_a_mixed_dataset(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1", "A"), user("u2", "B"), user("u3", "A")],
        [
            license_("l1", "u1", 10),
            license_("l2", "u2", 20, anchor="2026-01-17 08:00"),
            license_("l3", "u2", 5),
            license_("l4", "u3", 0),
        ],
        [
            request(
                f"r{i}",
                f"2026-0{1 + i % 3}-{1 + (i * 7) % 28:02d} {(i * 5) % 24:02d}:00",
                u,
                lic,
                c,
                tool=t,
            )
            for i, (u, lic, c, t) in enumerate(
                [
                    ("u1", "l1", 3.3, "junie"),
                    ("u2", "l2", 7.25, "claude_agent"),
                    ("u2", "l3", 2, "x"),
                ]
                * 15
                + [("u3", "l4", 1, "ai_assistant_chat"), ("u1", "l1", 2, "code_completion")] * 5
            )
        ],
        topups=[topup(None, "2026-01-01", 3), topup("u2", "2026-02-10", 12.5)],
        timezone="America/New_York",
    )
    for start, end, gran in [
        ("2026-01-01", "2026-03-31", None),
        ("2026-01-10", "2026-02-20", "week"),
        ("2026-02-01", "2026-02-28", None),
        ("2025-06-01", "2027-12-31", None),
    ]:
        ours = report(root, start, end, gran).to_json()
        ref = reference.report(root, date.fromisoformat(start), date.fromisoformat(end), gran)
        assert ours == ref


def test_documented_choices_quota_zero_tiny_credits_and_validity(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1"), user("u2"), user("u3")],
        [
            license_("l1", "u1", 0),
            license_("l2", "u2", 10),
            license_("l3", "u3", 1, valid_from="2026-06-01", until="2026-07-01"),
        ],
        [
            request("r1", "2026-03-02 10:00", "u1", "l1", 5),  # quota 0, no top-up: never hit
            request("r2", "2026-03-02 10:00", "u2", "l2", 1e-7),  # rounds to 0 micro: active only
            request("r3", "2026-03-02 10:00", "u3", "l3", 1),  # outside validity: still counts
        ],
    )
    r = report(root, "2026-03-01", "2026-03-31")
    assert r.active_users.total == 3
    assert r.credits.topup == 5.0 and r.credits.builtin == 1.0
    assert r.limit_hits.users == 1  # only u3, whose quota of 1 is used up


def test_all_time_starts_at_the_first_counted_request_whatever_the_team(tmp_path):
    root = write_dataset(
        tmp_path,
        [user("u1", "A"), user("u2", "B")],
        [license_("l1", "u1"), license_("l2", "u2")],
        [
            request("r0", "2026-01-01 10:00", "u1", "l1", 0),  # not counted
            request("r1", "2026-01-03 10:00", "u1", "l1", 1),
            request("r2", "2026-02-03 10:00", "u2", "l2", 1),
        ],
    )
    ds = open_(root)
    period = ds.period("all-time", date(2026, 2, 10))
    assert period == Period(date(2026, 1, 3), date(2026, 2, 10))
    assert ds.report(period, teams={"B"}).period.start == date(2026, 1, 3)


ZONES = [
    "UTC",
    "Europe/Prague",
    "America/New_York",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Africa/Casablanca",
    "Africa/Freetown",
    "Europe/Dublin",
    "Antarctica/Troll",
    "Etc/GMT+5",
]


@pytest.mark.parametrize("tz", ZONES)
def test_local_days_agree_with_pandas_to_the_nanosecond_around_every_offset_change(tz):
    """pandas' tz_convert is the independent judge of Arrow's, over two centuries and at every
    second of each hour in which the zone's offset changes."""
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    from metrics import ledger

    def expected(ts):
        wall = pd.DatetimeIndex(ts.view("datetime64[ns]"), tz="UTC").tz_convert(tz)
        return wall.tz_localize(None).asi8 // (86_400 * 10**9)

    hour = 3_600 * 10**9
    hours = np.arange(-2_200_000_000 * 10**9, 4_100_000_000 * 10**9, hour)  # 1900 to 2099
    wall = pd.DatetimeIndex(hours.view("datetime64[ns]"), tz="UTC").tz_convert(tz)
    offset = wall.tz_localize(None).asi8 - hours
    changes = hours[np.flatnonzero(np.diff(offset)) + 1]
    seconds = (changes[:, None] - hour + np.arange(0, hour + 1, 10**9)[None, :]).ravel()
    edges = np.concatenate([seconds + d for d in (-1, 0, 1)])
    rng = np.random.default_rng(zlib.crc32(tz.encode()))
    spread = rng.integers(hours[0], hours[-1], 200_000)
    for ts in (edges, spread, spread[:1]):
        assert (ledger.local_days(ts, tz, "ns") == expected(ts)).all()
    assert (len(changes) == 0) == (tz in ("UTC", "Etc/GMT+5"))
