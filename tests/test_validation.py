"""One bad dataset per rule of section 1: each is rejected, naming file, column, rule and rows."""

import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import metrics
from tests.datasets import license_, request, topup, user, write_dataset


def good(root, **over):
    args = {
        "users": [user("u1"), user("u2")],
        "licenses": [license_("l1", "u1"), license_("l2", "u2")],
        "requests": [
            request("r1", "2026-03-02 10:00", "u1", "l1", 1.5),
            request("r2", "2026-03-03 10:00", "u2", "l2", 2.0),
        ],
        "topups": [topup(None, "2026-01-01", 5)],
    }
    args.update(over)
    return write_dataset(root, **args)


def rejected(root):
    with pytest.raises(metrics.DatasetError) as info:
        metrics.open_dataset(root, cache_dir=False)
    return info.value


def only_issue(err, file, column, rule_part, rows=None):
    matching = [
        i for i in err.issues if i.file == file and i.column == column and rule_part in i.rule
    ]
    assert matching, f"no {file}/{column}/{rule_part!r} issue in: {err}"
    if rows is not None:
        assert matching[0].rows == rows
    return matching[0]


def rewrite(path, column, values, type_=None):
    t = pq.read_table(path)
    i = t.column_names.index(column)
    t = t.set_column(i, column, pa.array(values, type=type_ or t.schema.field(column).type))
    pq.write_table(t, path)


def test_a_good_dataset_opens(tmp_path):
    ds = metrics.open_dataset(good(tmp_path), cache_dir=False)
    assert ds.n_users == 2


def test_user_id_must_be_unique(tmp_path):
    err = rejected(good(tmp_path, users=[user("u1"), user("u1"), user("u2")]))
    issue = only_issue(err, "users.parquet", "user_id", "unique", rows=2)
    assert issue.examples == ("'u1'",)
    assert "users.parquet" in str(err) and "user_id" in str(err) and "must be unique" in str(err)


def test_user_id_must_not_be_null(tmp_path):
    err = rejected(good(tmp_path, users=[user("u1"), user("u2"), user(None)]))
    only_issue(err, "users.parquet", "user_id", "not be null", rows=1)


def test_required_files_must_exist(tmp_path):
    root = good(tmp_path)
    (root / "users.parquet").unlink()
    (root / "requests.parquet").unlink()
    err = rejected(root)
    only_issue(err, "users.parquet", None, "missing")
    only_issue(err, "requests.parquet", None, "missing")


def test_required_columns_must_exist(tmp_path):
    root = good(tmp_path)
    t = pq.read_table(root / "licenses.parquet").drop_columns(["monthly_quota"])
    pq.write_table(t, root / "licenses.parquet")
    only_issue(rejected(root), "licenses.parquet", "monthly_quota", "missing")


def test_columns_must_have_their_types(tmp_path):
    root = good(tmp_path)
    rewrite(root / "requests.parquet", "ts", ["2026-03-02", "2026-03-03"], pa.string())
    rewrite(root / "users.parquet", "user_id", [1, 2], pa.int64())
    err = rejected(root)
    only_issue(err, "requests.parquet", "ts", "timestamp")
    only_issue(err, "users.parquet", "user_id", "string")


def test_license_id_must_be_unique(tmp_path):
    err = rejected(good(tmp_path, licenses=[license_("l1", "u1"), license_("l1", "u2")]))
    only_issue(err, "licenses.parquet", "license_id", "unique", rows=2)


def test_license_user_must_exist(tmp_path):
    err = rejected(
        good(
            tmp_path, licenses=[license_("l1", "u1"), license_("l2", "u2"), license_("l3", "ghost")]
        )
    )
    issue = only_issue(err, "licenses.parquet", "user_id", "exist in users", rows=1)
    assert issue.examples == ("license_id='l3'",)


@pytest.mark.parametrize("quota", [-1.0, float("nan"), float("inf")])
def test_monthly_quota_must_be_a_finite_number_at_least_zero(tmp_path, quota):
    err = rejected(good(tmp_path, licenses=[license_("l1", "u1", quota), license_("l2", "u2")]))
    only_issue(err, "licenses.parquet", "monthly_quota", ">= 0", rows=1)


def test_valid_from_must_not_be_null(tmp_path):
    err = rejected(
        good(tmp_path, licenses=[license_("l1", "u1", valid_from=None), license_("l2", "u2")])
    )
    only_issue(err, "licenses.parquet", "valid_from", "not be null", rows=1)


def test_topup_limit_must_be_at_least_zero_and_dated(tmp_path):
    err = rejected(good(tmp_path, topups=[topup(None, "2026-01-01", -5), topup("u1", None, 3)]))
    only_issue(err, "topup_limits.parquet", "monthly_limit", ">= 0", rows=1)
    only_issue(err, "topup_limits.parquet", "effective_from", "not be null", rows=1)


def test_request_id_must_be_unique(tmp_path):
    reqs = [request(f"r{i}", "2026-03-02 10:00", "u1", "l1", 1) for i in (1, 2, 2, 3, 3, 3)]
    err = rejected(good(tmp_path, requests=reqs))
    issue = only_issue(err, "requests", "request_id", "unique", rows=5)
    assert set(issue.examples) == {"'r2'", "'r3'"}


def test_request_id_uniqueness_with_ids_of_many_lengths(tmp_path):
    reqs = [request(rid, "2026-03-02 10:00", "u1", "l1", 1) for rid in ("a", "bb", "ccc", "bb")]
    only_issue(rejected(good(tmp_path, requests=reqs)), "requests", "request_id", "unique", rows=2)


def test_request_user_and_license_must_exist_and_match(tmp_path):
    reqs = [
        request("r1", "2026-03-02 10:00", "ghost", "l1", 1),
        request("r2", "2026-03-02 10:00", "u1", "nope", 1),
        request("r3", "2026-03-02 10:00", "u1", "l2", 1),
        request("r4", "2026-03-02 10:00", "u2", "l2", 1),
    ]
    err = rejected(good(tmp_path, requests=reqs))
    assert only_issue(err, "requests", "user_id", "exist in users", rows=1).examples == (
        "request_id='r1'",
    )
    assert only_issue(err, "requests", "license_id", "exist in licenses", rows=1).examples == (
        "request_id='r2'",
    )
    assert only_issue(err, "requests", "license_id", "belong", rows=1).examples == (
        "request_id='r3'",
    )


@pytest.mark.parametrize("credits", [-0.5, float("nan"), float("inf"), None])
def test_credits_must_be_finite_and_not_negative(tmp_path, credits):
    reqs = [
        request("r1", "2026-03-02 10:00", "u1", "l1", credits),
        request("r2", "2026-03-02 11:00", "u1", "l1", 1),
    ]
    err = rejected(good(tmp_path, requests=reqs))
    rule = "not be null" if credits is None else ">= 0"
    only_issue(err, "requests", "credits", rule, rows=1)


def test_request_ts_and_tool_must_not_be_null(tmp_path):
    reqs = [
        request("r1", None, "u1", "l1", 1),
        request("r2", "2026-03-02 11:00", "u1", "l1", 1, tool=None),
    ]
    err = rejected(good(tmp_path, requests=reqs))
    only_issue(err, "requests", "ts", "not be null", rows=1)
    only_issue(err, "requests", "tool", "not be null", rows=1)


def test_requests_file_and_directory_are_exclusive(tmp_path):
    root = good(tmp_path)
    (root / "requests").mkdir()
    only_issue(rejected(root), "requests", None, "not both")


def test_organization_timezone_must_be_iana(tmp_path):
    root = good(tmp_path)
    (root / "organization.json").write_text(json.dumps({"name": "X", "timezone": "Mars/Olympus"}))
    only_issue(rejected(root), "organization.json", "timezone", "IANA")
    (root / "organization.json").write_text("{not json")
    only_issue(rejected(root), "organization.json", None, "JSON")


def test_every_broken_rule_is_reported_at_once_and_no_file_is_touched(tmp_path):
    root = good(
        tmp_path,
        users=[user("u1"), user("u1"), user("u2")],
        requests=[request("r1", "2026-03-02 10:00", "u2", "l1", -1)],
    )
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}
    err = rejected(root)
    assert len(err.issues) >= 3
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}
    assert before == after
    assert metrics.validate(root) == list(err.issues)


def test_optional_parts_may_be_absent(tmp_path):
    root = good(tmp_path, topups=None, timezone=None)
    t = pq.read_table(root / "licenses.parquet").drop_columns(["cycle_anchor"])
    pq.write_table(t, root / "licenses.parquet")
    ds = metrics.open_dataset(root, cache_dir=False)
    assert ds.timezone == "UTC" and metrics.validate(root) == []


def test_extra_columns_and_naive_timestamps_are_accepted(tmp_path):
    root = good(tmp_path)
    t = pq.read_table(root / "requests.parquet")
    t = t.set_column(1, "ts", t["ts"].cast(pa.timestamp("us")))  # naive means UTC
    t = t.append_column("client", pa.array(["ide", "ide"]))
    pq.write_table(t, root / "requests.parquet")
    assert metrics.validate(root) == []


def test_timestamps_beyond_the_year_9999_are_reported_not_raised(tmp_path):
    root = good(tmp_path)
    t = pq.read_table(root / "requests.parquet")
    far = pa.array([10**16, 10**16], pa.timestamp("ms", tz="UTC"))  # about the year 318,857
    pq.write_table(t.set_column(1, "ts", far), root / "requests.parquet")
    only_issue(rejected(root), "requests", "ts", "between the years 1 and 9999", rows=2)


def test_a_partitioned_requests_directory_is_read_as_one_table(tmp_path):
    root = good(tmp_path, partitioned=True)
    (root / "requests" / "_SUCCESS").write_text("")  # marker files are ignored
    assert metrics.validate(root) == []
    (root / "requests" / "month=2026-03" / "notes.txt").write_text("not parquet")
    only_issue(rejected(root), "requests/month=2026-03/notes.txt", None, "not a readable Parquet")
