"""Hard inputs of issue 9, one test each, through the real command line.

Every case runs `python -m metrics report --data DIR --start ... --end ... --format json
--no-cache` in a new interpreter (FUZZ_CLI=fork runs it through the fork server of
tests/fuzz_strategies.py instead) and checks the invariants of every run: exit 0 or 3 (2 only
for the usage errors provoked on purpose), never a traceback, exit 3 with nothing on stdout and
issues that name files of the dataset, exit 0 with one JSON object equal to the loop reference
(tests/reference.py), and the dataset's files byte-identical afterwards with nothing added.
On top of that each test checks what its case must give. docs/reliability.md lists them all
with what each gets; engine bugs are strict xfails, so the marker fails once a bug is fixed.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import fuzz_strategies as fz
from tests import reference
from tests.datasets import (
    cast_columns,
    license_,
    overwrite_data_page,
    overwrite_middle,
    request,
    rewrite_column,
    topup,
    truncate,
    unchecked_strings,
    user,
    write_dataset,
)

RUNNER = os.environ.get("FUZZ_CLI", "subprocess")
START, END = date(2026, 3, 1), date(2026, 3, 31)
GIB_KB = 1 << 20


def good(root: Path, **over) -> Path:
    args = {
        "users": [user("u1"), user("u2", team="Backend")],
        "licenses": [license_("l1", "u1", 10.0), license_("l2", "u2", 2.5)],
        "requests": [
            request("r1", "2026-03-02 10:00", "u1", "l1", 6.0),
            request("r2", "2026-03-03 10:00", "u2", "l2", 2.0, tool="claude_agent"),
            request("r3", "2026-03-20 10:00", "u1", "l1", 7.25, mode="code"),
            request("r4", "2026-03-21 10:00", "u2", "l2", 1.0, tool="code_completion"),
        ],
        "topups": [topup(None, "2026-01-01", 1.0)],
    }
    args.update(over)
    return write_dataset(root, **args)


def cli(root: Path, start=START, end=END):
    argv = fz.report_argv(root, start, end)
    before = fz.snapshot(root)
    run = fz.run_cli(argv, runner=RUNNER)
    log(run)
    outcome = fz.check_run(run, root, before)
    return run, outcome


def log(run) -> None:
    """With HARD_INPUTS_LOG=FILE, each run's test, exit status and stderr are appended to FILE
    (one JSON line each): the table of docs/reliability.md is made from it."""
    if os.environ.get("HARD_INPUTS_LOG"):
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        line = {"test": test, "code": run.code, "stderr": run.stderr, "seconds": run.seconds}
        with open(os.environ["HARD_INPUTS_LOG"], "a") as f:
            f.write(json.dumps(line) + "\n")


def accepted(root: Path, start=START, end=END, like: Path | None = None, tz=None) -> dict:
    """Exit 0 with the reference's answer for `like` (default: the dataset itself)."""
    run, outcome = cli(root, start, end)
    assert outcome == "accepted", run.stderr
    got = json.loads(run.stdout)
    want = reference.report(like or root, start, end, tz=tz)
    assert got == want, fz.diff(got, want)
    return got


def rejected(root: Path, start=START, end=END) -> list[fz.Reported]:
    run, outcome = cli(root, start, end)
    assert outcome == "rejected", run.stdout
    return fz.parse_issues(run.stderr)


def has(issues, file, column, rule, rows=None) -> fz.Reported:
    found = [i for i in issues if i.file == file and i.column == column and rule in i.rule]
    assert found, f"no {file}/{column}/{rule!r} among {issues}"
    if rows is not None:
        assert found[0].rows == rows, found[0]
    return found[0]


def plain_copy(root: Path, to: Path) -> Path:
    shutil.copytree(root, to)
    return to


def partition(root: Path, by: str = "month") -> None:
    """requests.parquet becomes requests/month=YYYY-MM/part-0.parquet (or tool=.../) files."""
    t = pq.read_table(root / "requests.parquet")
    (root / "requests.parquet").unlink()
    if by == "month":
        keys = [None if v is None else v.strftime("%Y-%m") for v in t["ts"].to_pylist()]
    else:
        keys = t[by].to_pylist()
        t = t.drop_columns([by])
    for key in dict.fromkeys(keys):
        rows = pa.array([k == key for k in keys])
        seg = "__HIVE_DEFAULT_PARTITION__" if key is None else quote(key, safe="")
        path = root / "requests" / f"{by}={seg}" / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(t.filter(rows), path)


# -- section 8: bounds that keep every number exact -----------------------------------------------


def test_one_request_of_1e13_credits_is_rejected_not_counted(tmp_path):
    root = good(tmp_path / "ds", requests=[request("r1", "2026-03-02 10:00", "u1", "l1", 1e13)])
    issues = rejected(root)
    has(issues, "requests", "credits", "at most 1,000,000,000", rows=1)


def test_amounts_of_exactly_one_billion_are_accepted(tmp_path):
    root = good(
        tmp_path / "ds",
        licenses=[license_("l1", "u1", 1e9), license_("l2", "u2", 1e9)],
        topups=[topup(None, "2026-01-01", 1e9)],
        requests=[
            request("r1", "2026-03-02 10:00", "u1", "l1", 1e9),
            request("r2", "2026-03-03 10:00", "u1", "l1", 1e9),
            request("r3", "2026-03-04 10:00", "u2", "l2", 0.5),
        ],
    )
    got = accepted(root)
    assert got["credits"]["total"] == 2_000_000_000.5
    assert got["limit_hits"]["users"] == 1


def test_amounts_just_above_one_billion_are_rejected(tmp_path):
    above = math.nextafter(1e9, math.inf)
    root = good(
        tmp_path / "ds",
        licenses=[license_("l1", "u1", above), license_("l2", "u2")],
        topups=[topup(None, "2026-01-01", above)],
        requests=[request("r1", "2026-03-02 10:00", "u1", "l1", above)],
    )
    issues = rejected(root)
    has(issues, "licenses.parquet", "monthly_quota", "at most 1,000,000,000", rows=1)
    has(issues, "topup_limits.parquet", "monthly_limit", "at most 1,000,000,000", rows=1)
    has(issues, "requests", "credits", "at most 1,000,000,000", rows=1)


NINE_TRILLION_MICRO = 9_000_000_000_000 * 10**6
QUOTAS = {"l1": 1e9, "l2": 123.456789}


def nine_trillion(root: Path, extra_micro: int = 0) -> tuple[Path, list[dict]]:
    """9,001 counted requests whose credits add up to exactly 9,000,000,000,000 (plus
    `extra_micro` micro-credits), over two licenses and every month of 2026."""
    credits = [1e9] * 8999 + [999_999_999.999999, 0.000001]
    credits += [extra_micro / 10**6] if extra_micro else []
    reqs = []
    for i, c in enumerate(credits):
        lic = "l1" if i % 2 else "l2"
        ts = str(datetime(2026, 1, 1) + timedelta(minutes=58 * i))  # all of 2026, in order
        reqs.append(request(f"r{i:05d}", ts, "u1" if lic == "l1" else "u2", lic, c))
    root = good(
        root,
        licenses=[license_("l1", "u1", QUOTAS["l1"]), license_("l2", "u2", QUOTAS["l2"])],
        topups=[],
        requests=reqs,
    )
    return root, reqs


def test_counted_credits_of_exactly_nine_trillion_are_printed_exactly(tmp_path):
    root, reqs = nine_trillion(tmp_path / "ds")
    micro = [round(r["credits"] * 1_000_000) for r in reqs]
    assert sum(micro) == NINE_TRILLION_MICRO
    run, outcome = cli(root, date(2026, 1, 1), date(2026, 12, 31))
    assert outcome == "accepted", run.stderr
    got = json.loads(run.stdout, parse_float=Decimal)

    # The ledger of section 3 in Python integers: calendar months (UTC), no top-up.
    builtin, topup_ = [0] * 12, [0] * 12
    spent: dict = {}
    for r, c in sorted(
        zip(reqs, micro, strict=True), key=lambda x: (x[0]["ts"], x[0]["request_id"])
    ):
        month = int(r["ts"][5:7]) - 1
        before = spent.get((r["license_id"], month), 0)
        b = min(c, max(0, round(QUOTAS[r["license_id"]] * 10**6) - before))
        spent[(r["license_id"], month)] = before + c
        builtin[month] += b
        topup_[month] += c - b

    def micro_of(text):
        value = Decimal(text) * 10**6
        assert value == value.to_integral_value(), text  # printed exactly, no float digits
        return int(value)

    cr = got["credits"]
    assert micro_of(cr["total"]) == NINE_TRILLION_MICRO
    assert micro_of(cr["builtin"]) == sum(builtin)
    assert micro_of(cr["topup"]) == sum(topup_)
    assert [micro_of(v) for v in cr["series"]["builtin"]] == builtin
    assert [micro_of(v) for v in cr["series"]["topup"]] == topup_
    assert [micro_of(v) for v in cr["series"]["total"]] == [
        b + t for b, t in zip(builtin, topup_, strict=True)
    ]
    want = reference.report(root, date(2026, 1, 1), date(2026, 12, 31))
    for key in ("buckets", "active_users", "limit_hits"):
        assert json.loads(json.dumps(got[key], default=str)) == want[key]


def test_counted_credits_just_above_nine_trillion_are_rejected(tmp_path):
    root, _ = nine_trillion(tmp_path / "ds", extra_micro=1)
    issues = rejected(root, date(2026, 1, 1), date(2026, 12, 31))
    has(issues, "requests", "credits", "must add up to at most 9,000,000,000,000")


# -- organization.json ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "content"),
    [
        ("deeply nested", b'{"a": ' * 100_000 + b"1" + b"}" * 100_000),
        ("not UTF-8", b'{"name": "Caf\xe9 \xff", "timezone": "UTC"}'),
    ],
)
def test_an_unreadable_organization_json_is_rejected_with_a_message(tmp_path, case, content):
    root = good(tmp_path / "ds")
    (root / "organization.json").write_bytes(content)
    issues = rejected(root)
    has(issues, "organization.json", None, "must be a JSON object")
    assert len(issues) == 1


def test_a_huge_organization_json_is_refused_or_read(tmp_path):
    root = good(tmp_path / "ds")
    doc = {"name": "Huge", "timezone": "Europe/Prague", "notes": "x" * (20 << 20)}
    (root / "organization.json").write_text(json.dumps(doc))
    run, outcome = cli(root)
    assert run.max_rss_kb < GIB_KB
    if outcome == "rejected":
        has(fz.parse_issues(run.stderr), "organization.json", None, "")
    else:
        assert json.loads(run.stdout) == reference.report(root, START, END)


def test_an_organization_json_with_a_byte_order_mark_is_accepted(tmp_path):
    root = good(tmp_path / "ds")
    doc = json.dumps({"name": "Bom", "timezone": "Europe/Prague"}).encode()
    (root / "organization.json").write_bytes(b"\xef\xbb\xbf" + doc)
    got = accepted(root, tz="Europe/Prague")  # the reference itself cannot read a BOM
    assert got["timezone"] == "Europe/Prague"


# -- damaged files --------------------------------------------------------------------------------


def many_requests(n: int = 3000) -> list[dict]:
    return [
        request(
            f"r{i:05d}",
            f"2026-{2 + i % 2:02d}-{1 + i % 28:02d} {i % 24:02d}:00",
            "u1" if i % 3 else "u2",
            "l1" if i % 3 else "l2",
            0.5 + i % 7,
            tool=["junie", "claude_agent", "ai_assistant_chat"][i % 3],
        )
        for i in range(n)
    ]


def test_corrupt_data_pages_of_a_partition_are_named_by_their_full_path(tmp_path):
    root = good(tmp_path / "ds", requests=many_requests())
    partition(root)
    target = "requests/month=2026-03/part-0.parquet"
    overwrite_middle(root / target)
    issues = rejected(root)
    assert [i.file for i in issues] == [target], issues


def test_corrupt_data_pages_of_each_file_are_named(tmp_path):
    root = good(tmp_path / "ds", requests=many_requests())
    overwrite_data_page(root / "users.parquet", "team")
    overwrite_data_page(root / "licenses.parquet", "monthly_quota")
    overwrite_data_page(root / "topup_limits.parquet", "effective_from")
    issues = rejected(root)
    assert {i.file for i in issues} == {"users.parquet", "licenses.parquet", "topup_limits.parquet"}
    other = good(tmp_path / "other", requests=many_requests())
    overwrite_middle(other / "requests.parquet")
    assert [i.file for i in rejected(other)] == ["requests.parquet"]


def test_truncated_files_are_named(tmp_path):
    root = good(tmp_path / "ds", requests=many_requests(200))
    partition(root)
    truncate(root / "users.parquet", 0)
    truncate(root / "licenses.parquet", 4)
    truncate(root / "topup_limits.parquet", 300)
    truncate(root / "requests/month=2026-02/part-0.parquet", -9)
    issues = rejected(root)
    assert {i.file for i in issues} == {
        "users.parquet",
        "licenses.parquet",
        "topup_limits.parquet",
        "requests/month=2026-02/part-0.parquet",
    }, issues


@pytest.mark.parametrize("name", ["users.parquet", "licenses.parquet", "requests.parquet"])
def test_a_folder_where_a_required_file_belongs_is_named(tmp_path, name):
    root = good(tmp_path / "ds")
    (root / name).unlink()
    (root / name).mkdir()
    (root / name / "part-0.parquet").write_bytes((root / "topup_limits.parquet").read_bytes())
    assert name in {i.file for i in rejected(root)}


@pytest.mark.parametrize("name", ["topup_limits.parquet", "organization.json"])
def test_a_folder_where_an_optional_file_belongs_is_named(tmp_path, name):
    root = good(tmp_path / "ds", timezone="Europe/Prague")
    content = (root / name).read_bytes()
    (root / name).unlink()
    (root / name).mkdir()
    (root / name / "part-0").write_bytes(content)  # e.g. what Spark writes for topup_limits
    assert name in {i.file for i in rejected(root)}


@pytest.mark.parametrize("marker", [False, True])
def test_an_empty_requests_folder_gets_one_clear_message(tmp_path, marker):
    root = good(tmp_path / "ds")
    (root / "requests.parquet").unlink()
    (root / "requests").mkdir()
    if marker:
        (root / "requests" / "_SUCCESS").write_bytes(b"")
    issues = rejected(root)
    assert len(issues) == 1 and issues[0].file == "requests/", issues
    assert "no Parquet file" in issues[0].rule


# -- text that is not UTF-8 -----------------------------------------------------------------------


def test_bytes_that_are_not_utf8_are_named_by_file_column_and_rule(tmp_path):
    root = good(
        tmp_path / "ds", licenses=[license_("l1", "u1"), license_("l2", "u2"), license_("l3", "u2")]
    )
    rewrite_column(root / "users.parquet", "name", unchecked_strings([b"Caf\xe9", "Bob"]))
    team = unchecked_strings(["Platform", b"\xff\xfeteam"]).dictionary_encode()
    rewrite_column(root / "users.parquet", "team", team)
    rewrite_column(
        root / "licenses.parquet", "license_id", unchecked_strings(["l1", "l2", b"l3\xc3\x28"])
    )
    rids = unchecked_strings(["r1", b"r\xed\xa0\x80", "r3", "r4"], pa.large_string())
    rewrite_column(root / "requests.parquet", "request_id", rids)
    issues = rejected(root)
    rule = "must be valid UTF-8 text"
    has(issues, "users.parquet", "name", rule, rows=1)
    has(issues, "users.parquet", "team", rule, rows=1)
    has(issues, "licenses.parquet", "license_id", rule, rows=1)
    has(issues, "requests", "request_id", rule, rows=1)
    assert len(issues) == 4, issues


def test_bytes_that_are_not_utf8_in_mode_are_never_read(tmp_path):
    root = good(tmp_path / "ds")
    like = plain_copy(root, tmp_path / "plain")
    rewrite_column(
        root / "requests.parquet", "mode", unchecked_strings([None, b"\xff", "ask", None])
    )
    accepted(root, like=like)


def test_a_partition_file_name_that_is_not_utf8_is_read(tmp_path):
    root = good(tmp_path / "ds")
    partition(root)
    like = plain_copy(root, tmp_path / "plain")
    folder = root / "requests" / "month=2026-03"
    os.rename(bytes(folder / "part-0.parquet"), bytes(folder) + b"/part-\xff.parquet")
    accepted(root, like=like)


# -- empty tables ---------------------------------------------------------------------------------


def test_zero_licenses_and_zero_requests_are_a_valid_empty_organization(tmp_path):
    got = accepted(good(tmp_path / "ds", licenses=[], requests=[]))
    assert got["active_users"]["total"] == 0 and got["credits"]["total"] == 0


def test_zero_licenses_with_requests_names_every_unknown_license(tmp_path):
    issues = rejected(good(tmp_path / "ds", licenses=[]))
    has(issues, "requests", "license_id", "must exist in licenses.parquet", rows=4)


# -- timestamps -----------------------------------------------------------------------------------

FAR = [
    request("z1", "0001-01-01 00:00:00", "u1", "l1", 0.0),
    request("z2", "9999-12-31 23:59:59", "u2", "l2", 0.0, tool="junie"),
    request("f1", "9999-06-15 10:00", "u1", "l1", 12.5),
    request("f2", "9999-06-16 10:00", "u2", "l2", 0.5),
    request("f3", "0001-02-03 10:00", "u1", "l1", 3.0),
]


def far_dataset(root: Path, unit: str, far=FAR) -> Path:
    base = good(Path(str(root) + "-base"), timezone="Europe/Prague")
    reqs = pq.read_table(base / "requests.parquet").to_pylist()
    root = good(root, timezone="Europe/Prague", requests=[*reqs, *far])
    cast_columns(root / "requests.parquet", {"ts": pa.timestamp(unit, tz="UTC")})
    return root


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_zero_credit_requests_in_the_years_1_and_9999_change_nothing(tmp_path, unit):
    root = far_dataset(tmp_path / "ds", unit)
    got = accepted(root)
    without = good(tmp_path / "without", timezone="Europe/Prague")
    assert got == reference.report(without, START, END)


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(9999, 6, 1), date(9999, 6, 30)), (date(1, 2, 1), date(1, 2, 28))],
)
def test_counted_requests_in_the_years_1_and_9999_are_reported_like_the_reference(
    tmp_path, start, end
):
    got = accepted(far_dataset(tmp_path / "ds", "s"), start, end)
    assert got["credits"]["total"] > 0


def test_timestamps_beyond_the_year_9999_get_one_message_naming_the_column(tmp_path):
    root = good(tmp_path / "ds")
    far = pa.array(
        [253_402_300_800, -62_135_596_801, 1_772_445_600, 1_772_532_000],
        pa.timestamp("s", tz="UTC"),
    )
    rewrite_column(root / "requests.parquet", "ts", far)
    issues = rejected(root)
    has(issues, "requests", "ts", "between the years 1 and 9999", rows=2)
    assert len(issues) == 1, issues


@pytest.mark.parametrize(
    ("zone", "ts", "start", "end"),
    [
        ("Pacific/Kiritimati", "9999-12-31 20:00", date(9999, 12, 1), date(9999, 12, 30)),
        ("America/New_York", "0001-01-01 01:00", date(1, 1, 1), date(1, 1, 31)),
    ],
)
def test_a_counted_request_on_the_local_day_after_9999_or_before_year_1(
    tmp_path, zone, ts, start, end
):
    kept = [request("k1", f"{start.isoformat()} 12:00", "u1", "l1", 2.0)]
    root = good(
        tmp_path / "ds", timezone=zone, requests=[*kept, request("e1", ts, "u1", "l1", 1.0)]
    )
    run, outcome = cli(root, start, end)
    if outcome == "accepted":  # the request lies outside every period one can ask for
        like = good(tmp_path / "like", timezone=zone, requests=kept)
        assert json.loads(run.stdout) == reference.report(like, start, end)


def test_a_period_ending_on_the_last_day_of_9999(tmp_path):
    root = good(tmp_path / "ds", requests=[request("r1", "9999-12-30 10:00", "u1", "l1", 1.5)])
    run, outcome = cli(root, date(9999, 12, 1), date(9999, 12, 31))
    assert outcome == "accepted"
    want = reference.report(root, date(9999, 12, 1), date(9999, 12, 30))
    got = json.loads(run.stdout)
    assert got["buckets"] == [*want["buckets"], "9999-12-31"]
    assert got["credits"]["total"] == want["credits"]["total"] == 1.5


def test_naive_and_zoned_timestamps_of_every_unit_mean_the_same_instants(tmp_path):
    root = good(
        tmp_path / "ds",
        licenses=[license_("l1", "u1", 10.0, anchor="2026-02-10 07:00"), license_("l2", "u2", 2.5)],
        timezone="America/New_York",
    )
    like = plain_copy(root, tmp_path / "plain")
    cast_columns(root / "requests.parquet", {"ts": pa.timestamp("us")})
    cast_columns(
        root / "licenses.parquet",
        {
            "valid_from": pa.timestamp("s", tz="Asia/Tokyo"),
            "valid_until": pa.timestamp("ms", tz="America/New_York"),
            "cycle_anchor": pa.timestamp("s"),
        },
    )
    cast_columns(root / "topup_limits.parquet", {"effective_from": pa.date32()})
    accepted(root, like=like)


def test_nanosecond_timestamps_are_read(tmp_path):
    root = good(
        tmp_path / "ds",
        licenses=[license_("l1", "u1", 10.0, anchor="2026-02-10 07:00"), license_("l2", "u2")],
    )
    like = plain_copy(root, tmp_path / "plain")
    cast_columns(root / "requests.parquet", {"ts": pa.timestamp("ns")})
    cast_columns(root / "licenses.parquet", {"cycle_anchor": pa.timestamp("ns", tz="UTC")})
    cast_columns(root / "topup_limits.parquet", {"effective_from": pa.timestamp("ns", tz="UTC")})
    accepted(root, like=like)


def test_nanosecond_requests_with_far_anchors_and_topup_dates(tmp_path):
    reqs = [request(f"r{d}", f"2026-03-{d:02d} 10:00", "u1", "l1", 4.0) for d in range(1, 30, 4)]
    root = good(
        tmp_path / "ds",
        licenses=[license_("l1", "u1", 10.0, anchor="2300-01-05 07:00"), license_("l2", "u2")],
        topups=[topup("u1", "1600-01-01", 100.0), topup("u1", "1500-01-01", 0.0)],
        requests=reqs,
    )
    like = plain_copy(root, tmp_path / "plain")
    cast_columns(root / "requests.parquet", {"ts": pa.timestamp("ns", tz="UTC")})
    accepted(root, like=like)


# -- memory ---------------------------------------------------------------------------------------


def test_a_one_megabyte_request_id_among_5000_rows_stays_under_a_gigabyte(tmp_path):
    reqs = many_requests(5000)
    reqs[2500]["request_id"] = "r02500" + "x" * (1 << 20)
    root = good(tmp_path / "ds", requests=reqs)
    before = fz.snapshot(root)
    run = fz.run_subprocess(fz.report_argv(root, START, END))  # its own process, measured
    log(run)
    assert fz.check_run(run, root, before) == "accepted", run.stderr
    assert json.loads(run.stdout) == reference.report(root, START, END)
    assert run.max_rss_kb < GIB_KB, f"peak {run.max_rss_kb / 1024:.0f} MB"


# -- storage types --------------------------------------------------------------------------------


def test_dictionary_and_large_string_columns_are_read_as_text(tmp_path):
    root = good(tmp_path / "ds")
    like = plain_copy(root, tmp_path / "plain")
    d, big = pa.dictionary(pa.int32(), pa.string()), pa.large_string()
    cast_columns(
        root / "users.parquet",
        {"user_id": d, "name": big, "team": pa.dictionary(pa.int8(), pa.large_string())},
    )
    cast_columns(root / "licenses.parquet", {"license_id": big, "user_id": d, "plan": d})
    cast_columns(root / "topup_limits.parquet", {"user_id": d})
    cast_columns(
        root / "requests.parquet",
        {"request_id": big, "user_id": d, "license_id": big, "tool": d, "mode": big},
    )
    accepted(root, like=like)


def test_string_view_request_columns_are_read_as_text(tmp_path):
    root = good(tmp_path / "ds")
    like = plain_copy(root, tmp_path / "plain")
    sv = pa.string_view()
    cast_columns(
        root / "requests.parquet", {"request_id": sv, "user_id": sv, "license_id": sv, "tool": sv}
    )
    accepted(root, like=like)


def test_string_view_user_and_license_columns_are_read_as_text(tmp_path):
    root = good(tmp_path / "ds")
    like = plain_copy(root, tmp_path / "plain")
    sv = pa.string_view()
    cast_columns(root / "users.parquet", {"user_id": sv, "name": sv, "team": sv})
    cast_columns(root / "licenses.parquet", {"license_id": sv, "user_id": sv, "plan": sv})
    accepted(root, like=like)


def test_integer_and_decimal_amounts_are_read_as_numbers(tmp_path):
    root = good(tmp_path / "ds", licenses=[license_("l1", "u1", 10.125), license_("l2", "u2", 2.5)])
    like = plain_copy(root, tmp_path / "plain")
    rewrite_column(root / "requests.parquet", "credits", pa.array([6, 2, 7, 1], pa.int64()))
    rewrite_column(like / "requests.parquet", "credits", pa.array([6.0, 2.0, 7.0, 1.0]))
    cast_columns(root / "licenses.parquet", {"monthly_quota": pa.decimal128(12, 3)})
    cast_columns(root / "topup_limits.parquet", {"monthly_limit": pa.decimal256(40, 6)})
    accepted(root, like=like)


def test_extra_columns_of_any_type_are_ignored(tmp_path):
    root = good(tmp_path / "ds")
    like = plain_copy(root, tmp_path / "plain")
    rewrite_column(root / "users.parquet", "age", pa.array([30, None], pa.int16()))
    rewrite_column(root / "licenses.parquet", "seat", pa.array([{"a": 1}, {"a": 2}]))
    rewrite_column(root / "topup_limits.parquet", "note", pa.array(["raised"]))
    for name, values in {
        "client": pa.array(["ide", "cli", None, "ide"]),
        "tags": pa.array([[1], [], None, [2, 3]], pa.list_(pa.int32())),
        "raw": unchecked_strings([b"\xff", b"\xfe", b"ok", None]),
        "Credits": pa.array([float("nan")] * 4),
    }.items():
        rewrite_column(root / "requests.parquet", name, values)
    accepted(root, like=like)


def test_a_repeated_column_is_named_with_the_other_schema_issues_of_its_file(tmp_path):
    root = good(tmp_path / "ds")
    t = pq.read_table(root / "licenses.parquet").drop_columns(["valid_from"])
    twice = pa.Table.from_arrays([*t.columns, t["plan"]], names=[*t.column_names, "plan"])
    pq.write_table(twice, root / "licenses.parquet")
    issues = rejected(root)
    has(issues, "licenses.parquet", "valid_from", "required column is missing")
    assert [i for i in issues if i.file == "licenses.parquet" and i.column == "plan"], issues


# -- the rules of section 1 -----------------------------------------------------------------------


def test_duplicates_are_counted_across_partition_files(tmp_path):
    reqs = [
        request("r1", "2026-02-02 10:00", "u1", "l1", 1.0),
        request("r1", "2026-03-02 10:00", "u1", "l1", 1.0),
        request("r2", "2026-03-03 10:00", "u2", "l2", 1.0),
        request("r2", "2026-03-04 10:00", "u2", "l2", 1.0),
        request("r3", "2026-03-05 10:00", "u2", "l2", 1.0),
    ]
    root = good(
        tmp_path / "ds",
        users=[user("u1"), user("u1"), user("u2")],
        licenses=[license_("l1", "u1"), license_("l2", "u2"), license_("l2", "u2")],
        requests=reqs,
    )
    partition(root)
    issues = rejected(root)
    has(issues, "users.parquet", "user_id", "must be unique", rows=2)
    has(issues, "licenses.parquet", "license_id", "must be unique", rows=2)
    has(issues, "requests", "request_id", "must be unique", rows=4)


def test_dangling_ids_and_a_license_of_another_user_are_named(tmp_path):
    root = good(
        tmp_path / "ds",
        licenses=[license_("l1", "u1"), license_("l2", "u2"), license_("l3", "ghost")],
        requests=[
            request("r1", "2026-03-02 10:00", "nobody", "l1", 1.0),
            request("r2", "2026-03-02 11:00", "u1", "nope", 1.0),
            request("r3", "2026-03-02 12:00", "u1", "l2", 1.0),
            request("r4", "2026-03-02 13:00", "u2", "l2", 1.0),
        ],
    )
    issues = rejected(root)
    has(issues, "licenses.parquet", "user_id", "must exist in users.parquet", rows=1)
    has(issues, "requests", "user_id", "must exist in users.parquet", rows=1)
    has(issues, "requests", "license_id", "must exist in licenses.parquet", rows=1)
    has(issues, "requests", "license_id", "must belong to the request's user_id", rows=1)
    assert len(issues) == 4, issues


def test_nan_inf_and_negative_amounts_are_named(tmp_path):
    root = good(
        tmp_path / "ds",
        licenses=[license_("l1", "u1", float("nan")), license_("l2", "u2")],
        topups=[topup(None, "2026-01-01", float("inf")), topup("u1", "2026-02-01", 0.0)],
        requests=[
            request("r1", "2026-03-02 10:00", "u1", "l1", -0.5),
            request("r2", "2026-03-02 11:00", "u1", "l1", -math.inf),
            request("r3", "2026-03-02 12:00", "u2", "l2", math.nan),
            request("r4", "2026-03-02 13:00", "u2", "l2", -0.0),  # negative zero is zero
        ],
    )
    issues = rejected(root)
    rule = "must be a finite number >= 0"
    has(issues, "licenses.parquet", "monthly_quota", rule, rows=1)
    has(issues, "topup_limits.parquet", "monthly_limit", rule, rows=1)
    has(issues, "requests", "credits", rule, rows=3)
    assert len(issues) == 3, issues


def test_a_null_in_every_column_that_must_not_be_null_is_named(tmp_path):
    ok = request("r0", "2026-03-02 10:00", "u1", "l1", 1.0)
    root = good(
        tmp_path / "ds",
        users=[user("u1"), user("u2"), user(None)],
        licenses=[
            license_("l1", "u1"),
            license_("l2", "u2"),
            license_(None, "u1"),
            license_("l4", None),
            license_("l5", "u1", plan=None),
            license_("l6", "u1", quota=None),
            license_("l7", "u1", valid_from=None),
        ],
        topups=[topup(None, None, 1.0), topup("u1", "2026-01-01", None)],
        requests=[
            ok,
            {**ok, "request_id": None},
            {**ok, "request_id": "r2", "ts": None},
            {**ok, "request_id": "r3", "user_id": None},
            {**ok, "request_id": "r4", "license_id": None},
            {**ok, "request_id": "r5", "tool": None},
            {**ok, "request_id": "r6", "credits": None},
        ],
    )
    issues = rejected(root)
    expected = {
        ("users.parquet", "user_id"),
        ("licenses.parquet", "license_id"),
        ("licenses.parquet", "user_id"),
        ("licenses.parquet", "plan"),
        ("licenses.parquet", "monthly_quota"),
        ("licenses.parquet", "valid_from"),
        ("topup_limits.parquet", "effective_from"),
        ("topup_limits.parquet", "monthly_limit"),
        ("requests", "request_id"),
        ("requests", "ts"),
        ("requests", "user_id"),
        ("requests", "license_id"),
        ("requests", "tool"),
        ("requests", "credits"),
    }
    for file, column in expected:
        has(issues, file, column, "must not be null", rows=1)
    assert {(i.file, i.column) for i in issues} == expected, issues


# -- partitioned requests -------------------------------------------------------------------------


def test_a_folder_partitioned_on_the_tool_column_is_read_as_one_table(tmp_path):
    reqs = [
        *many_requests(40),
        request("o1", "2026-03-05 10:00", "u1", "l1", 3.0, tool="a/b c%"),
        request("o2", "2026-03-06 10:00", "u1", "l1", 5.0, tool="code_completion"),
    ]
    root = good(tmp_path / "ds", requests=reqs)
    partition(root, by="tool")
    assert (root / "requests" / "tool=a%2Fb%20c%25" / "part-0.parquet").is_file()
    accepted(root)


def test_nested_month_and_tool_folders_with_marker_files(tmp_path):
    root = good(tmp_path / "ds", requests=many_requests(60))
    partition(root, by="tool")
    for folder in list((root / "requests").iterdir()):
        t = pq.read_table(folder / "part-0.parquet")
        (folder / "part-0.parquet").unlink()
        for month in ("2026-02", "2026-03"):
            rows = pa.array([v.strftime("%Y-%m") == month for v in t["ts"].to_pylist()])
            (folder / f"month={month}").mkdir()
            pq.write_table(t.filter(rows), folder / f"month={month}" / "part-0.parquet")
    (root / "requests" / "_SUCCESS").write_bytes(b"")
    (root / "requests" / ".part-0.parquet.crc").write_bytes(b"crc")
    accepted(root, date(2026, 2, 1), date(2026, 3, 31))


def test_a_null_tool_partition_breaks_the_not_null_rule(tmp_path):
    reqs = [*many_requests(10), request("n1", "2026-03-05 10:00", "u1", "l1", 3.0, tool=None)]
    root = good(tmp_path / "ds", requests=reqs)
    partition(root, by="tool")
    has(rejected(root), "requests", "tool", "must not be null", rows=1)


@pytest.mark.parametrize("setting", ["0", "lots"])
def test_a_memory_setting_that_is_not_a_size_is_a_usage_error(tmp_path, setting):
    root = good(tmp_path / "ds")
    before = fz.snapshot(root)
    run = fz.run_cli(fz.report_argv(root, START, END), {"AI_CONSOLE_MEMORY_MB": setting}, RUNNER)
    log(run)
    if fz.check_run(run, root, before, usage=True) == "usage":
        assert "AI_CONSOLE_MEMORY_MB" in run.stderr
    else:
        assert json.loads(run.stdout) == reference.report(root, START, END)


# -- usage errors, on purpose ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra", [("--end", "2026-03-01"), ("--tz", "Mars/Olympus_Mons")], ids=["end", "tz"]
)
def test_usage_errors_exit_2_without_a_traceback(tmp_path, extra):
    root = good(tmp_path / "ds")
    argv = [*fz.report_argv(root, "2026-03-31", "2026-04-30"), *extra]
    before = fz.snapshot(root)
    run = fz.run_cli(argv, runner=RUNNER)
    log(run)
    assert fz.check_run(run, root, before, usage=True) == "usage"
    assert run.code == 2 and "usage: python -m metrics" in run.stderr
