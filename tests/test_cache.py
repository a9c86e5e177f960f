"""The ledger cache: a second open reads it, and it can never serve numbers the inputs or the
engine no longer give."""

import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import metrics
from metrics import Period, cache, ledger, opening
from metrics.dataset import Parts
from tests.datasets import license_, request, user, worked_example, write_dataset

PERIOD = Period(date(2026, 1, 1), date(2026, 2, 28))
ROOT = Path(__file__).resolve().parents[1]


def test_second_open_reads_the_cached_ledger_and_answers_the_same(tmp_path, monkeypatch):
    root = worked_example(tmp_path / "ds", partitioned=True)
    folder = tmp_path / "cache"
    first = metrics.open_dataset(root, cache_dir=folder)
    assert [p.name for p in folder.iterdir()] == [first.fingerprint]  # no temporary left over

    def no_ledger(*_):
        raise AssertionError("the ledger must come from the cache")

    monkeypatch.setattr(ledger, "fold", no_ledger)
    second = metrics.open_dataset(root, cache_dir=folder)
    assert second.report(PERIOD) == first.report(PERIOD)


def test_a_dataset_checked_once_is_not_read_again_to_check_it_again(tmp_path, monkeypatch):
    root = worked_example(tmp_path / "ds")
    folder = tmp_path / "cache"
    assert metrics.validate(root, cache_dir=folder) == []
    (entry,) = folder.iterdir()

    def no_scan(*_):
        raise AssertionError("the requests must not be read again")

    def not_kept(*_):
        raise AssertionError("a check reads the cached ledger back, it does not keep it")

    monkeypatch.setattr(opening, "scan_unit", no_scan)
    monkeypatch.setattr(Parts, "add", not_kept)
    assert metrics.validate(root, cache_dir=folder) == []
    monkeypatch.undo()
    monkeypatch.setattr(opening, "scan_unit", no_scan)
    assert metrics.open_dataset(root, cache_dir=folder).fingerprint == entry.name
    monkeypatch.undo()
    requests = pq.read_table(root / "requests.parquet")
    ids = requests["request_id"].to_pylist()
    pq.write_table(  # a duplicate id, where the small tables stay byte for byte the same
        requests.set_column(0, "request_id", pa.array(["r1", *ids[1:-1], "r1"])),
        root / "requests.parquet",
    )
    (issue,) = metrics.validate(root, cache_dir=folder)  # changed requests are checked afresh
    assert (issue.column, issue.rule, issue.rows) == ("request_id", "must be unique", 2)
    assert [p.name for p in folder.iterdir()] == [entry.name]  # nor cached when broken


def test_a_changed_input_or_timezone_is_a_new_cache_entry(tmp_path):
    root = worked_example(tmp_path / "ds")
    folder = tmp_path / "cache"
    a = metrics.open_dataset(root, cache_dir=folder)
    b = metrics.open_dataset(root, cache_dir=folder, timezone="Asia/Tokyo")
    assert a.fingerprint != b.fingerprint
    stat = (root / "requests.parquet").stat()
    write_dataset(
        root,
        [user("u1")],
        [license_("l1", "u1", 10.0)],
        [request("r1", "2026-01-05 09:00", "u1", "l1", 1)],
    )
    # Even with the old modification time, the inode and change time give the new file away.
    os.utime(root / "requests.parquet", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    c = metrics.open_dataset(root, cache_dir=folder)
    assert c.fingerprint != a.fingerprint
    assert c.report(PERIOD).credits.total == 1.0


def test_the_small_tables_are_keyed_by_their_content(tmp_path, monkeypatch):
    """Where a copy keeps size and times (a restore, a network share), their bytes decide."""
    root = worked_example(tmp_path / "ds")
    monkeypatch.setattr(cache, "files_stamp", lambda _root: "the same stamp")
    before = cache.key(root, "UTC")
    write_dataset(root, [user("u1", name="Other")], [license_("l1", "u1", 10.0)], [])
    assert cache.key(root, "UTC") != before


def test_a_change_of_the_engine_source_is_a_new_cache_entry(tmp_path):
    """The version in the key is a hash of the engine's own files, never bumped by hand."""
    copy = tmp_path / "pkg" / "metrics"
    shutil.copytree(ROOT / "metrics", copy, ignore=shutil.ignore_patterns("__pycache__"))
    code = "import metrics.cache as c; print(c.engine_version())"

    def version():
        env = {**os.environ, "PYTHONPATH": str(copy.parent)}
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    before = version()
    with open(copy / "ledger.py", "a") as f:
        f.write("\n# a change of the ledger code\n")
    assert version() != before


def test_a_corrupt_cache_entry_is_recomputed_and_rewritten(tmp_path):
    root = worked_example(tmp_path / "ds")
    folder = tmp_path / "cache"
    ds = metrics.open_dataset(root, cache_dir=folder)
    (folder / ds.fingerprint / "part-0.arrow").write_bytes(b"garbage")
    assert not cache.load(folder, ds.fingerprint, Parts(2**30).add)
    again = metrics.open_dataset(root, cache_dir=folder)
    assert again.report(PERIOD) == ds.report(PERIOD)
    assert cache.load(folder, ds.fingerprint, Parts(2**30).add)


def test_entries_are_evicted_by_age_and_total_size_and_nothing_else_is_touched(tmp_path):
    folder = tmp_path / "cache"
    keys = []
    for i in range(3):
        root = worked_example(tmp_path / f"ds{i}")
        keys.append(metrics.open_dataset(root, cache_dir=folder).fingerprint)
    old = time.time() - 40 * 86_400
    os.utime(folder / keys[0] / "meta.json", (old, old))
    (folder / "notes").mkdir()
    (folder / "notes" / "mine.txt").write_text("not the cache's")
    cache.evict(folder)
    assert not (folder / keys[0]).exists()  # unused for 40 days
    assert (folder / keys[1]).exists() and (folder / keys[2]).exists()
    os.utime(folder / keys[1] / "meta.json", (old + 86_400 * 39, old + 86_400 * 39))
    cache.evict(
        folder, max_mb=1e-6 + sum(f.stat().st_size for f in (folder / keys[2]).iterdir()) / 2**20
    )
    assert not (folder / keys[1]).exists() and (folder / keys[2]).exists()  # least recently used
    assert (folder / "notes" / "mine.txt").read_text() == "not the cache's"


def test_two_processes_writing_one_entry_never_corrupt_it(tmp_path):
    root = worked_example(tmp_path / "ds")
    folder = tmp_path / "cache"
    code = (
        "import sys, metrics\n"
        "from datetime import date\n"
        "ds = metrics.open_dataset(sys.argv[1], cache_dir=sys.argv[2])\n"
        "print(ds.report(metrics.Period(date(2026, 1, 1), date(2026, 2, 28))).credits.total)\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(root), str(folder)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert outputs == ["18.0"] * 4
    (entry,) = folder.iterdir()
    assert cache.load(folder, entry.name, Parts(2**30).add)


def test_an_unwritable_cache_costs_nothing_but_speed(tmp_path):
    root = worked_example(tmp_path / "ds")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ds = metrics.open_dataset(root, cache_dir=blocker / "cache")
    assert ds.report(PERIOD).credits.total == 18.0
    assert blocker.read_text() == "not a directory"


def test_a_cache_folder_the_system_refuses_costs_nothing_but_speed(tmp_path):
    root = worked_example(tmp_path / "ds")
    too_long = tmp_path / ("x" * 300) / "cache"  # a name longer than any file system allows
    ds = metrics.open_dataset(root, cache_dir=too_long)
    assert ds.report(PERIOD).credits.total == 18.0


@pytest.mark.parametrize("memory", [None, 64 << 20])
def test_a_ledger_beyond_the_memory_setting_is_answered_from_disk_alike(tmp_path, memory):
    root = worked_example(tmp_path / "ds")
    ds = metrics.open_dataset(root, cache_dir=tmp_path / "cache", memory=memory)
    small = Parts(1)
    for part in ds._parts:
        small.add(part.load())
    assert all(p.path is not None for p in small)
    on_disk = metrics.Dataset(root, ds.tables, small, ds.fingerprint)
    assert on_disk.report(PERIOD) == ds.report(PERIOD)
    again = metrics.open_dataset(root, cache_dir=tmp_path / "cache", memory=64 << 20)
    assert again.report(PERIOD) == ds.report(PERIOD)
