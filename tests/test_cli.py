"""`python -m metrics report` as section 6 specifies it, run as a real subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.datasets import worked_example

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cache=None):
    env = dict(os.environ)
    if cache:
        env["AI_CONSOLE_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "metrics", "report", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return worked_example(tmp_path_factory.mktemp("cli") / "ds", partitioned=True)


def test_json_report_is_one_object_matching_the_contract(data, tmp_path):
    args = ("--data", str(data), "--start", "2026-01-21", "--end", "2026-02-28", "--format", "json")
    p = run(*args, cache=tmp_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["buckets"] == ["2026-01-01", "2026-02-01"]
    assert doc["credits"]["series"]["topup"] == [3.0, 0.0]
    assert doc["limit_hits"] == {
        "users": 1,
        "peak_daily_users": 1,
        "peak_day": "2026-01-25",
        "series": [1, 0],
    }
    # The ledger is cached for the next process, and the cached answer is the same.
    assert any(tmp_path.iterdir())
    again = run(*args, cache=tmp_path)
    assert json.loads(again.stdout) == doc


def test_predefined_period_team_granularity_and_tz(data):
    p = run(
        "--data",
        str(data),
        "--period",
        "last-3-months",
        "--as-of",
        "2026-02-10",
        "--granularity",
        "week",
        "--team",
        "Platform",
        "--tz",
        "Asia/Tokyo",
        "--format",
        "json",
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["timezone"] == "Asia/Tokyo"
    assert (doc["start"], doc["end"], doc["granularity"]) == ("2025-12-01", "2026-02-10", "week")
    assert doc["buckets"][0] == "2025-12-01" and doc["buckets"][-1] == "2026-02-09"
    assert doc["credits"]["total"] == 18.0


def test_a_team_the_dataset_does_not_have_is_a_usage_error_naming_the_teams(data):
    p = run("--data", str(data), "--period", "all-time", "--team", "Nobody", "--format", "json")
    assert p.returncode == 2 and p.stdout == ""
    assert "'Nobody'" in p.stderr and "teams: Platform" in p.stderr


def test_table_format_is_for_people(data):
    p = run(
        "--data", str(data), "--start", "2026-01-21", "--end", "2026-02-28", "--format", "table"
    )
    assert p.returncode == 0
    assert (
        "2026-01-01 *" in p.stdout
        and "Peak daily users who hit their limit: 1 on 2026-01-25" in p.stdout
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--start", "2026-02-01", "--end", "2026-01-01"],
        ["--period", "last-7-days", "--tz", "Not/AZone"],
        ["--period", "last-fortnight"],
        ["--start", "2026-02-01"],
        ["--period", "all-time", "--start", "2026-01-01", "--end", "2026-01-02"],
        ["--start", "2026-01-01", "--end", "2026-01-02", "--as-of", "2026-01-02"],
        ["--start", "2026-13-01", "--end", "2026-12-02"],
        ["--period", "all-time", "--granularity", "hour"],
    ],
)
def test_usage_errors_exit_2(data, args):
    p = run("--data", str(data), *args, "--format", "json")
    assert p.returncode == 2 and p.stdout == ""


def test_rejected_dataset_exits_3_with_the_error_on_stderr(tmp_path):
    bad = worked_example(tmp_path / "bad")
    (bad / "users.parquet").write_bytes(b"not parquet")
    p = run("--data", str(bad), "--period", "all-time", "--format", "json")
    assert p.returncode == 3
    assert p.stdout == ""
    assert "users.parquet" in p.stderr and "Traceback" not in p.stderr
    missing = run("--data", str(tmp_path / "nowhere"), "--period", "all-time", "--format", "json")
    assert missing.returncode == 3 and missing.stdout == ""


def test_a_closed_pipe_ends_quietly(data):
    """`report | head -1`: the reader stops early, the command says nothing about it."""
    cmd = f"{sys.executable} -m metrics report --data {data} --period all-time --format table"
    p = subprocess.run(f"{cmd} | head -1", shell=True, capture_output=True, text=True, cwd=ROOT)
    assert p.stdout.count("\n") == 1 and p.stderr == ""


def test_help_speaks_of_the_docs_and_every_command():
    p = subprocess.run(
        [sys.executable, "-m", "metrics", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert p.returncode == 0 and "docs/metrics.md" in p.stdout and "section" not in p.stdout
    assert all(c in p.stdout for c in ("report", "teams", "forecast"))


def test_the_tool_filter_narrows_active_users_and_credits_but_not_limit_hits(data):
    args = ("--data", str(data), "--start", "2026-01-01", "--end", "2026-02-28", "--format", "json")
    every = json.loads(run(*args).stdout)
    chat = json.loads(run(*args, "--tool", "ai_assistant_chat").stdout)
    assert every["credits"]["total"] == 18.0 and chat["credits"]["total"] == 0.0
    assert chat["active_users"]["total"] == 0 and chat["limit_hits"] == every["limit_hits"]
    assert run(*args, "--tool", "autocomplete").returncode == 2
