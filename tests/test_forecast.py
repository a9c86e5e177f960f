"""`python -m metrics forecast` and `Dataset.forecast` as section 10 of the contract specifies
them: the shape of the answer and the rules any method must keep. How good the method is, is
the backtest's business (tests/benchmarks/backtest_forecast.py, docs/forecast.md)."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

import fixtures
from metrics import open_dataset
from metrics.model import dumps
from metrics.periods import Period
from tests import reference
from tests.datasets import license_, request, topup, user, write_dataset

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 3, 15)  # a Sunday
GENERATED_END = date(2026, 6, 30)
GENERATED_CUTS = (date(2026, 5, 12), date(2026, 6, 3), date(2026, 6, 18))


def cli(command: str, data: Path, *args: str) -> dict:
    p = subprocess.run(
        [sys.executable, "-m", "metrics", command, "--data", str(data), *args, "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def forecast(data: Path, as_of: date, *teams: str) -> dict:
    """The command line's answer."""
    team_args = [a for t in teams for a in ("--team", t)]
    return cli("forecast", data, "--as-of", as_of.isoformat(), *team_args)


@functools.cache
def opened(data: Path):
    return open_dataset(data, cache_dir=False)


def api(data: Path, as_of: date, *teams: str) -> dict:
    """The same answer from `Dataset.forecast`, as the command line prints it."""
    return json.loads(dumps(opened(data).forecast(as_of, teams).to_json()))


def report_topup(data: Path, first: date, last: date, *teams: str) -> float:
    return opened(data).report(Period(first, last), teams=teams).credits.topup


def weekdays(first: str, last: str, hour: int = 10) -> list[datetime]:
    days = pd.date_range(first, last, freq="D")
    return [d.to_pydatetime() + timedelta(hours=hour) for d in days if d.weekday() < 5]


def spending(uid: str, lid: str, times, credits: float) -> list[dict]:
    return [request(f"{lid}-{t:%Y%m%d%H%M}", t, uid, lid, credits) for t in times]


def organization(root: Path, extra=(), timezone: str = "UTC") -> Path:
    """Six people, one quarter of history, `AS_OF` in the middle of March:

    - steady (Platform): 2 credits every weekday, quota 20; their own top-up limit of 15 takes
      effect on the evening of `AS_OF`, one of 100 the day after: allowance now 35, spent 20;
    - idle (Platform): two requests of 1 credit in the whole quarter;
    - full (Platform): quota 10, 3 credits a weekday in March, past its allowance of 15 on
      March 6 and still spending: top-up of March through `AS_OF` 30 - 10 = 20;
    - cycle (Web): a 30-day cycle anchored 2026-01-20 12:00 UTC, so the period holding `AS_OF`
      is [Feb 19 12:00, Mar 21 12:00) and ends on March 21; 1.25 credits a weekday, 16 weekdays
      of it by `AS_OF`: spent 20 of 25, five more weekdays before the renewal;
    - web2 (Web): quota 5, 1 credit a weekday in March: top-up 5 through `AS_OF` (hit March 13);
    - nobody: a licensed user without a request.
    The organization's default top-up limit is 5 from 2026-01-01.
    """
    requests = [
        *spending("steady", "l-steady", weekdays("2026-01-01", "2026-03-31"), 2.0),
        request("idle-1", "2026-01-05 10:00", "idle", "l-idle", 1.0),
        request("idle-2", "2026-03-03 10:00", "idle", "l-idle", 1.0),
        *spending("full", "l-full", weekdays("2026-03-02", "2026-03-31"), 3.0),
        *spending("cycle", "l-cycle", weekdays("2026-01-20", "2026-04-30"), 1.25),
        *spending("web2", "l-web2", weekdays("2026-03-02", "2026-03-31"), 1.0),
    ]
    return write_dataset(
        root,
        users=[
            user("steady", "Platform"),
            user("idle", "Platform"),
            user("full", "Platform"),
            user("cycle", "Web"),
            user("web2", "Web"),
            user("nobody", None),
        ],
        licenses=[
            license_("l-steady", "steady", 20.0),
            license_("l-idle", "idle", 20.0),
            license_("l-full", "full", 10.0),
            license_("l-cycle", "cycle", 20.0, anchor="2026-01-20 12:00"),
            license_("l-web2", "web2", 5.0),
            license_("l-nobody", "nobody", 20.0),
        ],
        topups=[
            topup(None, "2026-01-01", 5.0),
            topup("steady", "2026-03-15 20:00", 15.0),
            topup("steady", "2026-03-16 00:00", 100.0),
        ],
        requests=requests + list(extra),
        timezone=timezone,
    )


@pytest.fixture(scope="module")
def org(tmp_path_factory) -> Path:
    return organization(tmp_path_factory.mktemp("forecast") / "org")


@pytest.fixture(scope="module")
def answer(org) -> dict:
    return forecast(org, AS_OF)


def by_license(doc: dict) -> dict[str, dict]:
    return {r["license_id"]: r for r in doc["at_risk"]}


def test_json_has_exactly_the_contract_keys_and_types(answer):
    assert list(answer) == ["timezone", "as_of", "at_risk", "topup_month"]
    assert answer["timezone"] == "UTC"
    assert answer["as_of"] == "2026-03-15"
    assert answer["at_risk"], "the hand-made organization has licenses at risk"
    for r in answer["at_risk"]:
        assert list(r) == [
            "user_id",
            "license_id",
            "period_end",
            "spent",
            "allowance",
            "projected_hit_day",
        ]
        assert isinstance(r["user_id"], str) and isinstance(r["license_id"], str)
        for key in ("spent", "allowance"):
            assert isinstance(r[key], int | float) and not isinstance(r[key], bool)
        for key in ("period_end", "projected_hit_day"):
            date.fromisoformat(r[key])
    month = answer["topup_month"]
    assert list(month) == ["month", "spent", "projected"]
    assert month["month"] == "2026-03-01"
    assert all(isinstance(month[k], int | float) for k in ("spent", "projected"))


def test_the_api_gives_the_same_answer_as_the_command_line(org, answer):
    assert api(org, AS_OF) == answer
    assert api(org, AS_OF, "Web") == forecast(org, AS_OF, "Web")


def test_a_steady_spender_is_predicted_and_an_idle_one_is_not(answer):
    risky = by_license(answer)
    assert "l-steady" in risky
    assert "l-cycle" in risky
    assert "l-idle" not in risky
    assert "l-nobody" not in risky


def test_a_license_at_or_over_its_allowance_is_never_at_risk(answer):
    # l-full went past its allowance on March 6 and kept spending; l-web2 reached it March 13.
    assert {"l-full", "l-web2"}.isdisjoint(by_license(answer))
    assert all(r["spent"] < r["allowance"] for r in answer["at_risk"])


def test_spent_and_allowance_are_as_of_the_end_of_the_day(answer):
    steady = by_license(answer)["l-steady"]
    # 10 weekdays of March by the 15th; the limit of 15 set that evening is in force, the
    # one of 100 set for the next day is not.
    assert steady["spent"] == 20.0
    assert steady["allowance"] == 20.0 + 15.0
    assert steady["period_end"] == "2026-03-31"


def test_a_30_day_cycle_ends_its_own_period(answer):
    cycle = by_license(answer)["l-cycle"]
    anchor = datetime(2026, 1, 20, 12)
    k = (datetime(2026, 3, 16) - anchor) // timedelta(days=30)
    renewal = anchor + timedelta(days=30 * (k + 1))
    assert cycle["period_end"] == (renewal - timedelta(microseconds=1)).date().isoformat()
    assert cycle["period_end"] == "2026-03-21"
    assert cycle["spent"] == 16 * 1.25
    assert cycle["allowance"] == 25.0


def test_projected_hit_days_lie_after_as_of_and_within_the_period(answer):
    for r in answer["at_risk"]:
        assert date.fromisoformat(r["projected_hit_day"]) > AS_OF
        assert date.fromisoformat(r["projected_hit_day"]) <= date.fromisoformat(r["period_end"])


def test_team_filter_narrows_the_licenses_and_the_top_up(org, answer):
    web = api(org, AS_OF, "Web")
    assert {r["user_id"] for r in web["at_risk"]} == {"cycle"}
    assert web["topup_month"]["spent"] == 5.0
    assert answer["topup_month"]["spent"] == 20.0 + 5.0
    platform = api(org, AS_OF, "Platform")
    assert {r["user_id"] for r in platform["at_risk"]} == {"steady"}
    assert platform["topup_month"]["spent"] == 20.0


def test_top_up_spent_is_what_the_report_command_says_for_the_month_so_far(org, answer):
    report = cli("report", org, "--start", "2026-03-01", "--end", AS_OF.isoformat())
    assert answer["topup_month"]["spent"] == report["credits"]["topup"]


@pytest.mark.parametrize("teams", [(), ("Web",), ("Platform",)])
def test_top_up_spent_is_the_report_of_the_same_team(org, teams):
    month = api(org, AS_OF, *teams)["topup_month"]
    assert month["spent"] == report_topup(org, date(2026, 3, 1), AS_OF, *teams)
    assert month["projected"] >= month["spent"]


def test_requests_after_as_of_are_ignored(tmp_path):
    """In Prague, 23:30 UTC on the 15th is already the 16th; 23:30 UTC on the 14th is the 15th."""
    tz = "Europe/Prague"
    base = api(organization(tmp_path / "base", timezone=tz), AS_OF)
    later = [
        request("late-1", "2026-03-15 23:30", "idle", "l-idle", 50.0),
        request("late-2", "2026-03-16 09:00", "steady", "l-steady", 30.0),
        request("late-3", "2026-04-02 09:00", "full", "l-full", 30.0),
    ]
    assert api(organization(tmp_path / "later", later, tz), AS_OF) == base
    known = [request("known", "2026-03-14 23:30", "web2", "l-web2", 4.0)]
    changed = api(organization(tmp_path / "known", known, tz), AS_OF)
    assert changed["topup_month"]["spent"] == base["topup_month"]["spent"] + 4.0


def test_the_last_day_of_a_month_leaves_no_top_up_to_come(org):
    month = api(org, date(2026, 3, 31))["topup_month"]
    assert month["projected"] == month["spent"]


def test_before_any_request_nothing_is_at_risk(org):
    doc = api(org, date(2025, 12, 15))
    assert doc["at_risk"] == []
    assert doc["topup_month"] == {"month": "2025-12-01", "spent": 0.0, "projected": 0.0}


# -- a generated organization ----------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("forecast-generated") / "org"
    config = fixtures.GeneratorConfig.preset(
        "small", users=120, months=4, end=GENERATED_END, seed=3
    )
    fixtures.generate(out, config)
    return out


def cut(src: Path, dst: Path, as_of: date) -> Path:
    """A copy of the dataset that holds only the requests of local days up to `as_of`."""
    dst.mkdir(parents=True)
    for name in ("organization.json", "users.parquet", "licenses.parquet", "topup_limits.parquet"):
        (dst / name).write_bytes((src / name).read_bytes())
    tz = json.loads((src / "organization.json").read_text())["timezone"]
    table = pads.dataset(src / "requests", partitioning="hive").to_table()
    local = table.column("ts").to_pandas().dt.tz_convert(tz).dt.date
    pq.write_table(table.filter((local <= as_of).to_numpy()), dst / "requests.parquet")
    return dst


@pytest.mark.parametrize("as_of", GENERATED_CUTS)
def test_a_history_cut_at_as_of_gives_the_identical_forecast(generated, tmp_path, as_of):
    short = cut(generated, tmp_path / "cut", as_of)
    assert opened(short).last_day <= as_of
    assert api(short, as_of) == api(generated, as_of)


def current_periods(root: Path, as_of: date):
    """Per license, the key and the last local day of the quota period holding the last instant
    of `as_of`, derived from the files with pandas."""
    tz = json.loads((root / "organization.json").read_text())["timezone"]
    licenses = pd.read_parquet(root / "licenses.parquet")
    now = pd.Timestamp(as_of + timedelta(days=1), tz=tz) - pd.Timedelta(microseconds=1)
    out = {}
    for lic in licenses.itertuples():
        if pd.isna(lic.cycle_anchor):
            last = (pd.Timestamp(as_of).to_period("M").end_time).date()
            out[lic.license_id] = (("month", as_of.year, as_of.month), last)
        else:
            k = (now - lic.cycle_anchor) // timedelta(days=30)
            end = lic.cycle_anchor + timedelta(days=30 * (k + 1)) - pd.Timedelta(microseconds=1)
            out[lic.license_id] = (("cycle", k), end.tz_convert(tz).date())
    return tz, licenses, out


@functools.cache
def reference_rows(root: Path) -> list[dict]:
    return reference.ledger(root)[1]


def period_of(row: dict, anchors: dict, tz: str):
    anchor = anchors[row["lic"]]
    if pd.isna(anchor):
        local = row["ts"].tz_convert(tz)
        return ("month", local.year, local.month)
    return ("cycle", (row["ts"] - anchor) // timedelta(days=30))


def limit_at(topups: pd.DataFrame, uid: str, when: pd.Timestamp) -> float:
    """Section 3: the newest own row in force, else the newest default; ties: the later row."""
    rows = topups[topups["effective_from"] <= when]
    own = rows[rows["user_id"] == uid]
    rows = own if len(own) else rows[rows["user_id"].isna()]
    if rows.empty:
        return 0.0
    return float(rows.sort_values("effective_from", kind="stable")["monthly_limit"].iloc[-1])


@pytest.mark.parametrize("as_of", GENERATED_CUTS)
def test_generated_at_risk_rows_keep_the_rules(generated, as_of):
    doc = api(generated, as_of)
    assert doc["at_risk"]
    tz, licenses, periods = current_periods(generated, as_of)
    rows = reference_rows(generated)
    topups = pd.read_parquet(generated / "topup_limits.parquet")
    now = pd.Timestamp(as_of + timedelta(days=1), tz=tz) - pd.Timedelta(microseconds=1)
    quota = licenses.set_index("license_id")["monthly_quota"]
    anchors = licenses.set_index("license_id")["cycle_anchor"].to_dict()
    for r in doc["at_risk"]:
        key, last = periods[r["license_id"]]
        assert r["period_end"] == last.isoformat()
        assert as_of < date.fromisoformat(r["projected_hit_day"]) <= last
        spent = sum(
            x["c"]
            for x in rows
            if x["lic"] == r["license_id"]
            and x["local"] <= as_of
            and period_of(x, anchors, tz) == key
        )
        allowance = quota[r["license_id"]] + limit_at(topups, r["user_id"], now)
        assert r["spent"] == spent / 1_000_000
        assert r["allowance"] == allowance
        assert spent / 1_000_000 < allowance


@pytest.mark.parametrize("as_of", GENERATED_CUTS)
def test_generated_top_up_spent_matches_the_report(generated, as_of):
    spent = api(generated, as_of)["topup_month"]["spent"]
    assert spent == report_topup(generated, as_of.replace(day=1), as_of)


def _backtest():
    path = ROOT / "tests" / "benchmarks" / "backtest_forecast.py"
    spec = importlib.util.spec_from_file_location("backtest_forecast", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("as_of", GENERATED_CUTS)
def test_the_backtest_outcome_follows_section_3(generated, as_of):
    """The backtest's "what happened next" against the independent reference ledger: users of
    licenses open at `as_of` that hit their limit after it, in the same quota period."""
    tz, licenses, periods = current_periods(generated, as_of)
    rows = reference_rows(generated)
    topups = pd.read_parquet(generated / "topup_limits.parquet")
    now = pd.Timestamp(as_of + timedelta(days=1), tz=tz) - pd.Timedelta(microseconds=1)
    owner = licenses.set_index("license_id")["user_id"]
    anchors = licenses.set_index("license_id")["cycle_anchor"].to_dict()
    quota = licenses.set_index("license_id")["monthly_quota"]
    spent, later_hit = {}, set()
    for x in rows:
        if period_of(x, anchors, tz) != periods[x["lic"]][0]:
            continue
        if x["local"] <= as_of:
            spent[x["lic"]] = spent.get(x["lic"], 0) + x["c"]
        elif x["hit"]:
            later_hit.add(x["lic"])
    expected = {
        owner[lid]
        for lid in later_hit
        if spent.get(lid, 0) / 1_000_000 < quota[lid] + limit_at(topups, owner[lid], now)
    }
    outcome = _backtest().actual(opened(generated), as_of)
    assert outcome.actual == expected
