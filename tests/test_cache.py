"""The ledger cache: a second open reads it, any change to an input makes a new entry."""

import os
from datetime import date

import metrics
from metrics import Period, store
from tests.datasets import license_, request, user, worked_example, write_dataset

PERIOD = Period(date(2026, 1, 1), date(2026, 2, 28))


def test_second_open_reads_the_cached_ledger_and_answers_the_same(tmp_path, monkeypatch):
    root = worked_example(tmp_path / "ds", partitioned=True)
    cache = tmp_path / "cache"
    first = metrics.open_dataset(root, cache_dir=cache)
    entries = list(cache.iterdir())
    assert [p.name for p in entries] == [first.fingerprint]
    assert not any(p.name.startswith(".") for p in cache.iterdir())  # no temporary left over

    def no_ledger(*_):
        raise AssertionError("the ledger must come from the cache")

    monkeypatch.setattr(metrics.dataset.ledger_mod, "run", no_ledger)
    second = metrics.open_dataset(root, cache_dir=cache)
    assert second.report(PERIOD) == first.report(PERIOD)


def test_a_changed_input_or_timezone_is_a_new_cache_entry(tmp_path):
    root = worked_example(tmp_path / "ds")
    cache = tmp_path / "cache"
    a = metrics.open_dataset(root, cache_dir=cache)
    b = metrics.open_dataset(root, cache_dir=cache, timezone="Asia/Tokyo")
    assert a.fingerprint != b.fingerprint

    write_dataset(
        root,
        [user("u1")],
        [license_("l1", "u1", 10.0)],
        [request("r1", "2026-01-05 09:00", "u1", "l1", 1)],
    )
    os.utime(root / "requests.parquet", ns=(1, 1))
    c = metrics.open_dataset(root, cache_dir=cache)
    assert c.fingerprint != a.fingerprint
    assert c.report(PERIOD).credits.total == 1.0


def test_a_corrupt_cache_entry_is_recomputed(tmp_path):
    root = worked_example(tmp_path / "ds")
    cache = tmp_path / "cache"
    ds = metrics.open_dataset(root, cache_dir=cache)
    (cache / ds.fingerprint / "ledger.arrow").write_bytes(b"garbage")
    again = metrics.open_dataset(root, cache_dir=cache)
    assert again.report(PERIOD) == ds.report(PERIOD)


def test_an_unwritable_cache_costs_nothing_but_speed(tmp_path):
    root = worked_example(tmp_path / "ds")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ds = metrics.open_dataset(root, cache_dir=blocker / "cache")
    assert ds.report(PERIOD).credits.total == 18.0
    assert store.read(blocker / "cache", ds.fingerprint) is None
