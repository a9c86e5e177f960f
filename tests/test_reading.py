"""The requests are read in batches, row group by row group, on two threads, and split into
partitions: the results must not depend on where batches, row groups and partitions fall."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import metrics
from metrics import read, scan
from tests import reference
from tests.datasets import license_, request, topup, user, write_dataset

BATCH = 500


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    """Batches of 500 rows, so a few thousand requests cross many batches and row groups."""
    monkeypatch.setattr(read, "BATCH_ROWS", BATCH)


def _org(n: int, seed: int = 5):
    rng = np.random.default_rng(seed)
    users = [user(f"u{i}", team="AB"[i % 2]) for i in range(20)]
    licenses = [license_(f"l{i}", f"u{i}", quota=float(i % 4) * 3) for i in range(20)]
    licenses += [license_("c1", "u1", 8, anchor="2026-01-09 15:00")]
    start = datetime(2026, 1, 1)
    tools = ["junie", "claude_agent", "ai_assistant_chat", "code_completion", "other_tool"]
    reqs = []
    for i in range(n):
        u = int(rng.integers(20))
        lic = "c1" if u == 1 and i % 2 else f"l{u}"
        # Whole minutes over three months: many ties in ts, broken by request_id.
        ts = start + timedelta(minutes=int(rng.integers(0, 90 * 24 * 60 // 30)) * 30)
        credits = float(rng.choice([0.0, 0.1, 0.25, 1.5, 3.0]))
        reqs.append(request(f"r{i}", ts, f"u{u}", lic, credits, tool=tools[i % len(tools)]))
    topups = [topup(None, "2026-01-01", 2), topup("u3", "2026-02-01", 4.5)]
    return users, licenses, reqs, topups


def _write(root, users, licenses, reqs, topups=None, **kw):
    root = write_dataset(root, users, licenses, reqs, topups=topups, **kw)
    # Rewrite every requests file with small row groups.
    for path in [root / "requests.parquet", *(root / "requests").rglob("*.parquet")]:
        if path.is_file():
            pq.write_table(pq.read_table(path), path, row_group_size=1_300)
    return root


def _same_as_reference(root):
    for start, end, gran in [
        ("2026-01-01", "2026-03-31", None),
        ("2026-02-03", "2026-03-09", "week"),
    ]:
        ours = metrics.open_dataset(root, cache_dir=False).report(
            metrics.Period(date.fromisoformat(start), date.fromisoformat(end)), gran
        )
        ref = reference.report(root, date.fromisoformat(start), date.fromisoformat(end), gran)
        assert ours.to_json() == ref


@pytest.mark.parametrize("partitioned", [False, True])
def test_reports_do_not_depend_on_batches_and_row_groups(tmp_path, partitioned):
    users, licenses, reqs, topups = _org(9_000)
    root = _write(tmp_path, users, licenses, reqs, topups, partitioned=partitioned)
    assert sum(pq.ParquetFile(p).num_row_groups for p in root.rglob("*.parquet")) > 8
    _same_as_reference(root)


def test_a_directory_partitioned_on_a_request_column_is_read_as_one_table(tmp_path):
    users, licenses, reqs, topups = _org(3_000)
    root = write_dataset(tmp_path, users, licenses, reqs, topups=topups)
    table = pq.read_table(root / "requests.parquet")
    (root / "requests.parquet").unlink()
    pq.write_to_dataset(table, root / "requests", partition_cols=["tool"])
    assert not any("tool" in pq.read_schema(p).names for p in (root / "requests").rglob("*.parq*"))
    assert metrics.validate(root) == []
    _same_as_reference(root)


def test_broken_rows_are_counted_in_every_batch_and_the_first_ones_shown(tmp_path):
    users, licenses, reqs, _ = _org(6_000)
    for i in (10, 2_600, 5_800):
        reqs[i]["user_id"] = "ghost"
    for i in (3_001, 5_999):
        reqs[i]["license_id"] = "l0" if reqs[i]["user_id"] != "u0" else "l1"
    reqs[4_500]["credits"] = -1.0
    reqs[5_000]["tool"] = None
    reqs[5_998]["request_id"] = "r2"
    reqs[5_997]["request_id"] = "r1"
    root = _write(tmp_path, users, licenses, reqs)
    issues = {(i.column, i.rule.split(" ")[1]): i for i in metrics.validate(root)}
    ghost = issues[("user_id", "exist")]
    assert (ghost.rows, ghost.examples) == (
        3,
        ("request_id='r10'", "request_id='r2600'", "request_id='r5800'"),
    )
    foreign = issues[("license_id", "belong")]
    assert (foreign.rows, foreign.examples) == (2, ("request_id='r3001'", "request_id='r5999'"))
    assert issues[("credits", "be")].examples == ("request_id='r4500'",)
    assert issues[("tool", "not")].rows == 1
    dup = issues[("request_id", "be")]
    assert (dup.rows, set(dup.examples)) == (4, {"'r1'", "'r2'"})
    assert len(issues) == 5


@pytest.mark.parametrize("duplicate", [False, True])
def test_hash_collisions_are_settled_by_comparing_the_ids(tmp_path, monkeypatch, duplicate):
    """With a hash that collides all the time, only true duplicates may be reported."""
    monkeypatch.setattr(scan, "id_hashes", lambda ids: np.zeros(len(ids), np.uint64))
    users, licenses, reqs, _ = _org(3_000)
    if duplicate:
        reqs[2_999]["request_id"] = "r17"
    root = _write(tmp_path, users, licenses, reqs)
    issues = metrics.validate(root)
    if duplicate:
        assert [(i.column, i.rows, i.examples) for i in issues] == [("request_id", 2, ("'r17'",))]
    else:
        assert issues == []


def test_ids_of_any_length_hash_by_their_bytes():
    ids = pa.array(["", "a", "a\0", "ab", "x" * 7, "x" * 8, "x" * 9, "é" * 40, "x" * 900])
    h = scan.id_hashes(ids)
    assert len(set(h.tolist())) == len(ids)
    again = scan.id_hashes(pa.array(["x" * 9, "zz", "x" * 900, "a"]))
    assert again[0] == h[6] and again[2] == h[8] and again[3] == h[1]
    assert (scan.id_hashes(ids.cast(pa.large_string())) == h).all()
    assert (scan.id_hashes(ids.slice(3)) == h[3:]).all()


def _padded(reqs):
    for i, r in enumerate(reqs):
        r["request_id"] = f"req-{i:011d}"
    return reqs


@pytest.mark.parametrize(
    "case",
    ["increasing", "overlapping ranges", "one batch out of order", "out of order"],
)
def test_ids_in_increasing_order_are_checked_without_hashing_yet_duplicates_are_found(
    tmp_path, case
):
    users, licenses, reqs, _ = _org(6_000)
    reqs = _padded(reqs)
    if case == "overlapping ranges":  # every batch increases, but two of them overlap
        assert read.BATCH_ROWS == 500 and 1_300 % 500 != 0  # 1,300 starts a batch
        reqs[1_300]["request_id"] = reqs[1_299]["request_id"]
    elif case == "one batch out of order":  # a duplicate between a hashed and a ranged batch
        reqs[5_100], reqs[5_101] = reqs[5_101], reqs[5_100]
        reqs[5_101]["request_id"] = "req-00000000042"
    elif case == "out of order":
        reqs.reverse()
        reqs[10]["request_id"] = reqs[3_000]["request_id"]
    root = _write(tmp_path, users, licenses, reqs)
    issues = metrics.validate(root)
    if case == "increasing":
        assert issues == []
        _same_as_reference(root)
    else:
        assert [(i.column, i.rule, i.rows) for i in issues] == [("request_id", "must be unique", 2)]


def test_increasing_range_compares_ids_as_strings():
    def span(ids):
        found = scan.increasing(pa.array(ids))
        return found and tuple(v.decode() for v in found)

    assert span(["a0000000001", "a0000000002", "b0000000000"]) == ("a0000000001", "b0000000000")
    assert span(["a0000000002", "a0000000002"]) is None  # equal is not increasing
    assert span(["a0000000009", "a0000000010", "a0000000008"]) is None
    # UTF-8 bytes order strings as their code points do: "zz" < "ÿ" (c3 bf).
    assert span(["a" * 8 + "zz", "a" * 8 + "ÿ"]) == ("a" * 8 + "zz", "a" * 8 + "ÿ")
    assert span(["a" * 8 + "ÿ", "a" * 8 + "zz"]) is None
    assert span(["z" * 9, "é" + "a" * 7]) == ("z" * 9, "é" + "a" * 7)
    assert span(["short", "shorter1", "shorter2", "x"]) == ("short", "x")  # any widths
    assert span(["only-one-id"]) == ("only-one-id", "only-one-id")


@pytest.mark.parametrize("seed", range(5))
def test_user_codes_checked_against_the_owner_equal_a_full_lookup(seed):
    """A row's user code is found by comparing its user_id with its license's owner first; rows
    whose owner is wrong or unknown, unknown users, nulls, and entries that first appear in a
    later batch must all end with the code a plain lookup among all users gives."""
    rng = np.random.default_rng(seed)
    users = pa.array([f"u{i:04d}" for i in range(50)])
    names = [f"u{i:04d}" for i in range(60)] + [None]  # ten ids no user has, and null
    codes = scan._Users(users)
    dictionary = pa.array(names[:-1])
    for batch in range(4):  # batches of one row group share the dictionary
        picked = rng.integers(0, 30 + 10 * batch, 500)  # later batches bring new entries
        picked[rng.random(500) < 0.05] = len(names) - 1
        values = pa.DictionaryArray.from_arrays(
            pa.array(np.where(picked == len(names) - 1, -1, picked), mask=picked == 60),
            dictionary,
        )
        owner = np.where(picked < 50, picked, -1)
        wrong = rng.random(500) < 0.2
        owner[wrong] = rng.integers(-1, 50, wrong.sum())
        expected = read.codes(values.dictionary_decode(), users)
        assert (codes(values, owner) == expected).all()


def test_a_null_id_names_nobody_even_where_a_key_is_null():
    """users.parquet may not hold a null user_id, but when a rejected one does, a request's
    null user_id must not match it, or a rule would be counted on a row that has no user."""
    users = pa.array(["u0", None, "u2"])
    values = pa.array(["u2", None, "u0", None])
    assert read.codes(values, users).tolist() == [2, -1, 0, -1]
    owner = np.array([2, 1, 0, 1])
    assert scan._Users(users)(values, owner).tolist() == [2, -1, 0, -1]


@pytest.mark.parametrize("memory", [64 << 20, 2 << 30])
def test_partitions_and_spilling_change_no_number(tmp_path, memory, monkeypatch):
    """A tiny memory setting splits the requests into many partitions spilled to disk."""
    users, licenses, reqs, topups = _org(6_000)
    root = _write(tmp_path, users, licenses, reqs, topups)
    monkeypatch.setattr(metrics.opening, "FOLD_BYTES", 200_000)  # a partition per few rows
    ds = metrics.open_dataset(root, cache_dir=False, memory=memory)
    assert len(ds._parts) > (5 if memory < 1 << 30 else 0)
    period = metrics.Period(date(2026, 1, 1), date(2026, 3, 31))
    assert ds.report(period).to_json() == reference.report(root, period.start, period.end)


def test_the_spill_counts_each_partition_piece_at_its_own_size():
    """A scanned batch is cut into one slice per partition; each slice weighs its own rows, not
    the whole batch, so what fits the limit stays in memory and the rest goes to disk whole."""
    rows = pa.record_batch([pa.array(np.arange(40_000, dtype=np.int64))], names=["ts"])
    spill = metrics.opening.Spill(limit=rows.nbytes + 1_000)
    try:
        for p in range(40):  # 40 partitions of 1,000 rows: together the batch, under the limit
            spill.put(("rows", p), rows.slice(p * 1_000, 1_000))
        assert not spill.files and spill.held == rows.nbytes
        spill.put(("rows", 0), rows.slice(0, 1_000))  # now beyond it: everything is written
        assert not spill.memory and spill.held == 0
        assert [b.num_rows for b in spill.get(("rows", 0))] == [1_000, 1_000]
        assert spill.get(("rows", 39))[0].equals(rows.slice(39_000, 1_000))
    finally:
        spill.close()


def test_units_decoded_ahead_read_as_streamed_ones(tmp_path, monkeypatch):
    """The first units are decoded whole ahead of the scan, the rest streamed in batches; the
    rows and every number are the same whichever way a unit was read."""
    users, licenses, reqs, topups = _org(6_000)
    root = _write(tmp_path, users, licenses, reqs, topups, partitioned=True)
    units, _ = read.request_units(metrics.rules.Checker(), root)
    budget = 3 * 1_300 * read.ReadAhead.ROW_BYTES  # the first three units, not the rest
    ahead = read.ReadAhead(units, budget)
    try:
        assert len(ahead._ahead) == 3 < len(units)
        for decoding in ahead._ahead.values():  # begun and done: none falls back to streaming
            decoding.result()
        for unit in units:
            streamed = pa.Table.from_batches(list(read.batches(unit)))
            early = pa.Table.from_batches(list(ahead.batches(unit)))
            assert early.num_rows > read.BATCH_ROWS  # several batches cut from one decoded table
            assert early.equals(streamed), unit.label
        assert not ahead._ahead
    finally:
        ahead.close()
    reports = []
    for row_bytes in (read.ReadAhead.ROW_BYTES, 1 << 40):  # all ahead, none ahead
        monkeypatch.setattr(read.ReadAhead, "ROW_BYTES", row_bytes)
        period = metrics.Period(date(2026, 1, 1), date(2026, 3, 31))
        reports.append(metrics.open_dataset(root, cache_dir=False).report(period).to_json())
    assert reports[0] == reports[1]
    assert reports[0] == reference.report(root, date(2026, 1, 1), date(2026, 3, 31))
