"""`python -m metrics teams` (contract section 9): every team side by side, each row exactly what
`report --team` gives for it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

import metrics
from tests.app_support import END
from tests.datasets import license_, request, topup, user, write_dataset

ROOT = Path(__file__).resolve().parents[1]


def cli(*args) -> dict:
    p = subprocess.run(
        [sys.executable, "-m", "metrics", *args, "--format", "json", "--no-cache"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    """Prague time; licenses that start or end right at the period's edges."""
    root = tmp_path_factory.mktemp("teams") / "org"
    users = [user("a1", "Apps"), user("a2", "Apps"), user("a3", "Apps"), user("b1", "Backend")]
    users += [user("n1", None), user("n2", None), user("x1", "Empty")]
    licenses = [
        license_("la1", "a1", 10),
        license_("la2", "a2", 10, valid_from="2026-03-31 22:00"),  # starts at April 1, 00:00 local
        license_("la3", "a3", 10, valid_from="2026-01-01", until="2026-02-28 23:00"),  # Mar 1 local
        license_("lb1", "b1", 5),
        license_("ln1", "n1", 10, until="2026-03-15 10:00"),
        license_("ln2", "n2", 10),
        license_("lx1", "x1", 10, valid_from="2026-04-02"),
    ]
    reqs = [
        request("r1", "2026-03-02 10:00", "a1", "la1", 4),
        request("r2", "2026-03-20 10:00", "a1", "la1", 7.5),  # a hit: quota 10 + 0 top-up
        request("r3", "2026-03-05 10:00", "a3", "la3", 1),  # active, but its license has ended
        request("r4", "2026-03-06 10:00", "b1", "lb1", 6),  # hit
        request("r5", "2026-03-07 10:00", "n1", "ln1", 2),
        request("r6", "2026-04-01 10:00", "a2", "la2", 3),  # after the period
    ]
    return write_dataset(
        root, users, licenses, reqs, topups=[topup(None, "2020-01-01", 0)], timezone="Europe/Prague"
    )


def test_teams_follow_section_9_to_the_letter(org):
    doc = cli("teams", "--data", str(org), "--start", "2026-03-01", "--end", "2026-03-31")
    assert list(doc) == ["timezone", "start", "end", "organization", "teams"]
    assert (doc["timezone"], doc["start"], doc["end"]) == (
        "Europe/Prague",
        "2026-03-01",
        "2026-03-31",
    )
    rows = {t["team"]: t for t in doc["teams"]}
    assert [t["team"] for t in doc["teams"]] == ["Apps", "Backend", "Empty", None]
    keys = ["licensed_users", "active_users", "adoption", "credits", "limit_hit_users"]
    assert list(doc["organization"]) == keys and list(rows["Apps"]) == ["team", *keys]
    # a1 licensed and active; a2's license starts at the first instant after the period; a3's
    # ended at the first instant of it, yet a3 is active: active, not licensed, not adopting.
    assert rows["Apps"]["licensed_users"] == 1 and rows["Apps"]["active_users"] == 2
    assert rows["Apps"]["adoption"] == 1.0
    assert rows["Empty"] == {
        "team": "Empty",
        "licensed_users": 0,
        "active_users": 0,
        "adoption": None,
        "limit_hit_users": 0,
        "credits": {"builtin": 0.0, "topup": 0.0, "total": 0.0},
    }
    assert rows[None]["licensed_users"] == 2 and rows[None]["adoption"] == 0.5
    assert doc["organization"]["licensed_users"] == 4
    assert doc["organization"]["adoption"] == 0.75  # a1, b1, n1 of a1, b1, n1, n2


def test_each_row_is_the_report_for_that_team(org):
    args = ("--data", str(org), "--start", "2026-03-01", "--end", "2026-03-31")
    doc = cli("teams", *args)
    ds = metrics.open_dataset(org, cache_dir=False)
    period = metrics.Period(date(2026, 3, 1), date(2026, 3, 31))
    for row in [*doc["teams"], {**doc["organization"], "team": "all"}]:
        if row["team"] == "all":
            rep = cli("report", *args)
        elif row["team"] is None:
            rep = json.loads(metrics.model.dumps(ds.report(period, teams=[None]).to_json()))
        else:
            rep = cli("report", *args, "--team", row["team"])
        assert row["active_users"] == rep["active_users"]["total"]
        assert row["limit_hit_users"] == rep["limit_hits"]["users"]
        assert row["credits"] == {k: rep["credits"][k] for k in ("builtin", "topup", "total")}


def test_adoption_is_rounded_to_four_decimals(tmp_path):
    users = [user(f"u{i}", "T") for i in range(3)]
    licenses = [license_(f"l{i}", f"u{i}", 10) for i in range(3)]
    reqs = [request("r1", "2026-03-02 10:00", "u0", "l0", 1)]
    root = write_dataset(tmp_path, users, licenses, reqs)
    doc = cli("teams", "--data", str(root), "--period", "last-month", "--as-of", "2026-04-10")
    assert doc["teams"][0]["adoption"] == 0.3333 and doc["organization"]["adoption"] == 0.3333
    assert (doc["start"], doc["end"]) == ("2026-03-01", "2026-03-31")


@pytest.mark.parametrize(
    ("licensed", "active", "adoption"),
    # Exact ties, rounded half to even: 0.01875 (whose nearest double is below the tie),
    # 0.00625 (above it) and 0.03125 (exactly the tie).
    [(160, 3, 0.0188), (160, 1, 0.0062), (32, 1, 0.0312)],
)
def test_adoption_rounds_the_exact_share(tmp_path, licensed, active, adoption):
    users = [user(f"u{i}", "T") for i in range(licensed)]
    licenses = [license_(f"l{i}", f"u{i}", 10) for i in range(licensed)]
    reqs = [request(f"r{i}", "2026-03-02 10:00", f"u{i}", f"l{i}", 1) for i in range(active)]
    root = write_dataset(tmp_path, users, licenses, reqs)
    doc = cli("teams", "--data", str(root), "--start", "2026-03-01", "--end", "2026-03-31")
    assert doc["organization"]["adoption"] == doc["teams"][0]["adoption"] == adoption


def test_no_null_row_when_everybody_has_a_team(small_dataset):
    doc = cli(
        "teams",
        "--data",
        str(small_dataset),
        "--period",
        "last-3-months",
        "--as-of",
        END.isoformat(),
    )
    names = [t["team"] for t in doc["teams"]]
    has_no_team = metrics.open_dataset(small_dataset, cache_dir=False).users["team"].isna().any()
    assert (None in names) == bool(has_no_team)
    assert names[: len(names) - (None in names)] == sorted(n for n in names if n is not None)
    org = doc["organization"]
    assert sum(t["active_users"] for t in doc["teams"]) == org["active_users"]
    assert sum(t["licensed_users"] for t in doc["teams"]) == org["licensed_users"]
