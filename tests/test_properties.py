"""Property tests: the vectorised engine against the loop-based reference on random datasets."""

import os
from datetime import date, timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metrics
from metrics import Granularity, Period
from tests import reference
from tests.datasets import license_, request, topup, user, write_dataset

ZONES = ["UTC", "Europe/Prague", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
TOOLS = [
    "junie",
    "claude_agent",
    "ai_assistant_chat",
    "code_completion",
    "next_edit_suggestion",
    "x",
]
BASE = date(2026, 1, 1)


@st.composite
def organizations(draw):
    n_users = draw(st.integers(1, 4))
    users = [user(f"u{i}", draw(st.sampled_from(["A", "B", None]))) for i in range(n_users)]
    licenses = []
    for i in range(n_users):
        for j in range(draw(st.integers(1, 2))):
            anchor = None
            if draw(st.booleans()):
                month, day, hour = (
                    draw(st.integers(1, 4)),
                    draw(st.integers(1, 28)),
                    draw(st.integers(0, 23)),
                )
                anchor = f"2026-{month:02d}-{day:02d} {hour:02d}:00"
            quota = draw(st.sampled_from([0.0, 1.0, 2.5, 5.0, 10.0]))
            licenses.append(license_(f"l{i}{j}", f"u{i}", quota, anchor=anchor))
    requests = []
    for k in range(draw(st.integers(0, 30))):
        lic = draw(st.sampled_from(licenses))
        minute = draw(st.integers(0, 120 * 24 * 4)) * 15  # quarter hours: ties happen
        stamp = (np.datetime64("2026-01-01T00:00") + np.timedelta64(minute, "m")).astype(str)
        credits = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, 3.0, 7.25, 1e-7]))
        tool = draw(st.sampled_from(TOOLS))
        requests.append(
            request(
                f"r{draw(st.integers(0, 10**6)):07d}-{k}",
                stamp,
                lic["user_id"],
                lic["license_id"],
                credits,
                tool,
            )
        )
    topups = []
    for _ in range(draw(st.integers(0, 4))):
        who = draw(st.sampled_from([None] + [u["user_id"] for u in users]))
        day = draw(st.integers(0, 120))
        topups.append(
            topup(
                who,
                f"{BASE + timedelta(days=day)} 12:00",
                draw(st.sampled_from([0.0, 1.0, 2.5, 10.0])),
            )
        )
    tz = draw(st.sampled_from(ZONES))
    start = BASE + timedelta(days=draw(st.integers(-10, 110)))
    end = start + timedelta(days=draw(st.integers(0, 120)))
    gran = draw(st.sampled_from([None, "day", "week", "month", "year"]))
    teams = draw(st.sampled_from([(), ("A",), ("A", "B")]))
    return users, licenses, requests, topups, tz, start, end, gran, teams


settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("ci")


def open_org(tmp_path_factory, org):
    users, licenses, requests, topups, tz, *_ = org
    root = write_dataset(
        tmp_path_factory.mktemp("org"), users, licenses, requests, topups, timezone=tz
    )
    return root, metrics.open_dataset(root, cache_dir=False)


@settings(max_examples=int(os.environ.get("PROPERTY_EXAMPLES", 60)))
@given(organizations())
def test_every_report_equals_the_reference(tmp_path_factory, org):
    root, ds = open_org(tmp_path_factory, org)
    *_, start, end, gran, teams = org
    r = ds.report(Period(start, end), gran, teams=teams)
    assert r.to_json() == reference.report(root, start, end, gran, teams)

    c = r.credits
    assert round(c.builtin + c.topup, 6) == c.total
    for b, t, tot in zip(c.builtin_series, c.topup_series, c.total_series, strict=True):
        assert round(b + t, 6) == tot

    # No quota period of a license spends more built-in credits than its quota.
    rows = [r for part in ds._rows() for r in [part]]
    lic = np.concatenate([r["license"] for r in rows])
    qp = np.concatenate([r["qp"] for r in rows])
    builtin = np.concatenate([r["builtin"] for r in rows])
    keys, at = np.unique(np.stack([lic, qp]), axis=1, return_inverse=True)
    per_period = np.bincount(at.ravel(), weights=builtin, minlength=keys.shape[1])
    assert (per_period <= ds.tables.licenses.quota[keys[0]] + 0.5).all()


@settings(max_examples=int(os.environ.get("PROPERTY_EXAMPLES", 30)))
@given(organizations())
def test_monthly_distinct_users_lie_between_the_daily_extremes(tmp_path_factory, org):
    _, ds = open_org(tmp_path_factory, org)
    *_, start, end, _, teams = org
    monthly = ds.report(Period(start, end), Granularity.MONTH, teams=teams)
    daily = ds.report(Period(start, end), Granularity.DAY, teams=teams)
    for bucket, n in zip(monthly.buckets, monthly.active_users.series, strict=True):
        counts = [
            v
            for d, v in zip(daily.buckets, daily.active_users.series, strict=True)
            if bucket.first <= d.label <= bucket.last
        ]
        assert max(counts, default=0) <= n <= sum(counts)
    assert monthly.active_users.total == daily.active_users.total
    assert monthly.credits.total == daily.credits.total


@settings(max_examples=60, deadline=None)
@given(
    n_users=st.sampled_from([1, 7, 5_000, 200_000]),
    n_index=st.integers(1, 400),
    rows=st.integers(0, 3_000),
    seed=st.integers(0, 2**32 - 1),
)
def test_distinct_users_are_counted_alike_by_matrix_and_by_sorting(n_users, n_index, rows, seed):
    """Small organizations take the matrix and large ones the sort; both must count what a
    set counts, at every size in between."""
    from metrics.dataset import distinct

    rng = np.random.default_rng(seed)
    index = np.sort(rng.integers(0, n_index, rows))
    users = rng.integers(0, n_users, rows)
    per_index, total = distinct(index, users, n_index, n_users)
    pairs = set(zip(index.tolist(), users.tolist(), strict=True))
    expected = [sum(1 for i, _ in pairs if i == k) for k in range(n_index)]
    assert per_index.tolist() == expected
    assert total == len(set(users.tolist()))


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(0, 10**15), max_size=200),
    cuts=st.lists(st.integers(0, 200), min_size=1, max_size=30),
)
def test_run_sums_are_exact_with_empty_runs_anywhere(values, cuts):
    from metrics.dataset import sums

    starts = np.array(sorted(min(c, len(values)) for c in cuts), dtype=np.int64)
    got = sums(np.array(values, dtype=np.int64), starts)
    ends = [*starts[1:].tolist(), len(values)]
    assert got.tolist() == [sum(values[a:b]) for a, b in zip(starts.tolist(), ends, strict=True)]
