"""Opening a dataset: read → validate → ledger, with the ledger cached between processes.

The small tables are read and checked whole. The requests are scanned unit by unit (`scan`),
their counted rows split into partitions by user, kept in memory while they fit the memory
setting and spilled to a temporary folder beyond it; then each partition's ledger is folded on
its own. With a Dask scheduler, units and partitions run on the cluster's workers instead and
only the folded ledger travels back.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

from metrics import cache, ledger, read, scan
from metrics.dataset import Dataset, Licenses, Parts, Tables
from metrics.model import DatasetError, Issue
from metrics.rules import (
    MAX_TOTAL_MICRO,
    TOTAL,
    Checker,
    check_table,
    nulls,
    report_duplicates,
    text,
)
from metrics.scan import ROWS_SCHEMA, Keys, Scanned, scan_unit

DEFAULT_MEMORY = 2 << 30
MIN_MEMORY = 64 << 20  # the smallest setting, and the least the budgets below ever share
# Held whatever the budgets: the interpreter and its libraries, the small tables and the row
# groups the two scan threads decode (0.47 GB at 100,000 users). The budgets share the rest.
RESERVED = 512 << 20
# Bytes a counted request takes while its partition is folded.
FOLD_BYTES = 200
Progress = Callable[[int, int, str], None]


def memory_setting(memory: int | None = None) -> int:
    """Bytes a report may use: `memory`, else `$AI_CONSOLE_MEMORY_MB`, else 2 GB."""
    if memory:
        return int(memory)
    env = os.environ.get("AI_CONSOLE_MEMORY_MB")
    try:
        value = float(env) if env else DEFAULT_MEMORY / 2**20
    except ValueError:
        value = math.nan
    least = MIN_MEMORY >> 20
    if not value >= least or not math.isfinite(value):
        raise ValueError(
            f"AI_CONSOLE_MEMORY_MB must be a number of megabytes, {least} or more: {env!r}"
        )
    return int(value * 2**20)


def open_dataset(
    path,
    *,
    timezone: str | None = None,
    cache_dir=None,
    scheduler: str | None = None,
    memory: int | None = None,
    progress: Progress | None = None,
    _check_only: bool = False,
) -> Dataset:
    """Validate a dataset directory and compute its ledger, or read it back from the cache.

    Raises `DatasetError` naming every broken rule. `cache_dir=False` disables the cache;
    None uses `$AI_CONSOLE_CACHE_DIR`, else the user's cache folder.
    """
    root = Path(path)
    if timezone is not None and not read.valid_timezone(timezone):
        raise ValueError(f"unknown timezone {timezone!r}")
    if not root.is_dir():
        raise DatasetError(str(root), [Issue(str(root), None, "no such folder", 0)])
    chk = Checker()
    name, tz = read.organization(chk, root, timezone)
    # Keyed before anything is read: files changed meanwhile make a later open miss.
    key = cache.key(root, tz)
    found = read.request_units(chk, root)
    units, unit = found or ([], "us")
    folder = None if cache_dir is False else Path(cache_dir or cache.default_dir())
    limit = max(memory_setting(memory) - RESERVED, MIN_MEMORY)
    cached = cache.has(folder, key)
    ahead = read.ReadAhead([] if scheduler or cached else units, limit // 8)
    try:
        tables = _small_tables(chk, root, name, tz, unit)
        parts = Parts(limit // 4)
        usable = tables is not None and found is not None and not chk.found and cached
        if usable and cache.load(folder, key, (lambda rows: None) if _check_only else parts.add):
            return Dataset(root, tables, parts, key)
        parts = Parts(limit // 4)  # afresh: a failed load may have added some
        _requests(chk, root, tables, units, scheduler, limit, progress, parts, ahead)
    finally:
        ahead.close()
    if folder is not None:
        cache.store(folder, key, parts)
    return Dataset(root, tables, parts, key)


def validate(path, timezone: str | None = None, cache_dir=None) -> list[Issue]:
    """Every broken rule of the dataset (empty when it is valid), for the Data page. A cached
    ledger answers at once: the same files passed every rule when it was computed, so it is
    only read back whole, not kept (on 24 months of 100,000 users it would spill to disk)."""
    try:
        open_dataset(path, timezone=timezone, cache_dir=cache_dir, _check_only=True)
    except DatasetError as exc:
        return list(exc.issues)
    return []


# -- the small tables ----------------------------------------------------------------------


def _small_tables(chk: Checker, root: Path, name: str, tz: str, unit: str) -> Tables | None:
    got = {}
    for file in ("users.parquet", "licenses.parquet", "topup_limits.parquet"):
        if (root / file).exists():
            got[file] = read.small_table(chk, root, file)
        elif file != "topup_limits.parquet":
            chk.add(file, None, "required file is missing")
    users, lic = got.get("users.parquet"), got.get("licenses.parquet")
    if users is None or lic is None:
        return None
    top = got.get("topup_limits.parquet")
    if unit == "ns" and not all(read.fits_nanoseconds(t, f) for f, t in got.items() if t):
        unit = "us"  # a date beyond 1677..2262 must not be clamped, so requests give up their ns

    def rows(idx):
        return [f"row {j}" for j in idx]

    check_table(chk, "users.parquet", users, rows)
    users = pa.table(read.columns(chk, "users.parquet", users, unit, rows))
    user_ids = users["user_id"].combine_chunks()

    ids = read.strings(lic["license_id"].combine_chunks())

    def license_ids(idx):
        return [f"license_id={v!r}" for v in text(ids.take(idx))]

    check_table(chk, "licenses.parquet", lic, license_ids)
    c = read.columns(chk, "licenses.parquet", lic, unit, license_ids)
    owner = read.codes(c["user_id"], user_ids)
    chk.missing("licenses.parquet", "user_id", (owner < 0) & ~nulls(c["user_id"]), license_ids)
    span = 30 * 86_400 * read.TICKS[unit]
    anchor = c["cycle_anchor"]
    phase = np.where(anchor == read.NEVER, ledger.NO_CYCLE, np.mod(anchor, span))
    licenses = Licenses(
        ids, owner, c["plan"], c["monthly_quota"], c["valid_from"], c["valid_until"], phase
    )

    if top is None:
        topups = ledger.Topups(*(np.empty(0, t) for t in (np.int32, np.int64, np.int64)))
    else:
        check_table(chk, "topup_limits.parquet", top, rows)
        c = read.columns(chk, "topup_limits.parquet", top, unit, rows)
        who = read.codes(c["user_id"], user_ids)
        default = nulls(c["user_id"])
        # Rows of users absent from users.parquet never apply; the contract sets no rule on them.
        keep = default | (who >= 0)
        user = np.where(default, -1, who).astype(np.int32)
        topups = ledger.Topups(user[keep], c["effective_from"][keep], c["monthly_limit"][keep])
    return Tables(name, tz, unit, users, licenses, topups)


# -- the requests --------------------------------------------------------------------------


def _requests(chk, root, tables, units, scheduler, memory, progress, parts: Parts, ahead) -> None:
    """Scan, check and fold the requests; raises `DatasetError` with every broken rule."""
    if tables is None or not units:
        raise DatasetError(
            str(root), chk.issues or [Issue("requests", None, "could not be read", 0)]
        )
    rows = sum(u.rows for u in units)
    if scheduler:
        from metrics.distributed import DaskRunner

        runner = DaskRunner(scheduler)
        n = partitions(rows, memory, runner.memory, runner.threads)
    else:
        runner = LocalRunner(memory // 3, progress, ahead)
        n = partitions(rows, memory)
    lic = tables.licenses
    spread = np.arange(tables.users.num_rows, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    keys = Keys(
        users=tables.users["user_id"].combine_chunks(),
        licenses=lic.ids,
        owner=lic.owner,
        part=((spread >> np.uint64(32)) % np.uint64(n)).astype(np.int64),
        id_parts=n,
        unit=tables.unit,
        timezone=tables.timezone,
    )
    ctx = ledger.Context(
        tables.timezone, tables.unit, lic.quota, lic.phase, lic.owner, tables.topups
    )
    with runner:
        scans = runner.scan(units, keys)
        for s in scans:
            chk.merge(s.checker)
        if sum(s.micro for s in scans) > MAX_TOTAL_MICRO:
            chk.add("requests", "credits", TOTAL)
        ranges = sorted(r for s in scans for r in s.ranges)
        overlap = any(a[1] >= b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        if overlap or any(s.hashed for s in scans):
            # Overlapping increasing batches, or a mix: every id is hashed after all.
            _exact_duplicates(chk, units, runner.repeated(units, keys, rehash=bool(ranges)))
        if chk.found:
            raise DatasetError(str(root), chk.issues)
        for rows in runner.folds(ctx, n):
            parts.add(rows)


def partitions(rows: int, memory: int, fold_memory: int | None = None, threads: int = 0) -> int:
    """How many partitions `rows` requests are split into. Each folds within a sixth of the
    memory it folds in: here two at once within the budgets (`memory`); on Dask one per worker
    thread, within `fold_memory` (the least a worker thread has), which leaves Dask far fewer
    pieces to move than `memory` would. Each folded partition still fits this process's ledger
    budget, and each of `threads` folds some."""
    fold = rows * FOLD_BYTES / ((fold_memory or memory) / 6)
    held = rows * Parts.ROW_BYTES / (memory / 4)
    return max(1, math.ceil(fold), math.ceil(held), 2 * threads)


def _exact_duplicates(chk, units, repeated: np.ndarray) -> None:
    """Ids whose hash repeats are compared exactly: only true duplicates are reported."""
    if not len(repeated):
        return
    found = []
    for unit in units:
        for b in read.batches(unit, ("request_id",)):
            ids = scan.plain_ids(b.column(0))
            found.append(ids.filter(np.isin(scan.id_hashes(ids), repeated)).cast(pa.large_string()))
    report_duplicates(chk, "requests", "request_id", pa.chunked_array(found, pa.large_string()))


def repeated_hashes(*pieces: list[pa.RecordBatch]) -> np.ndarray:
    """The hashes that occur more than once among the pieces of one id partition."""
    h = [b.column(0).to_numpy() for batches in pieces for b in batches]
    h = np.sort(np.concatenate([np.empty(0, np.uint64), *h]))
    return np.unique(h[1:][h[1:] == h[:-1]])


def fold_part(ctx: ledger.Context, *pieces: list[pa.RecordBatch]) -> dict:
    """One partition's ledger from the pieces the units left of it."""
    batches = [b for part in pieces for b in part]
    return ledger.fold(pa.Table.from_batches(batches, ROWS_SCHEMA), ctx)


class LocalRunner:
    """Units on two threads, their pieces kept in a `Spill`; partitions folded one by one."""

    def __init__(self, limit: int, progress: Progress | None, ahead: read.ReadAhead) -> None:
        self.spill = Spill(limit)
        self.progress = progress or (lambda done, total, label: None)
        self.ahead = ahead

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.spill.close()

    def scan(self, units, keys) -> list[Scanned]:
        done = [0]

        def one(unit):
            result = scan_unit(unit, keys, self.spill.put, self.ahead.batches)
            done[0] += 1
            self.progress(done[0], len(units) + keys.id_parts, "reading the requests")
            return result

        with ThreadPoolExecutor(max_workers=2) as pool:
            return list(pool.map(one, units))

    def repeated(self, units, keys, rehash: bool) -> np.ndarray:
        if rehash:
            for unit in units:
                scan.hash_unit(unit, keys, self.spill.put)
        found = [repeated_hashes(self.spill.get(("ids", p))) for p in range(keys.id_parts)]
        return np.concatenate([np.empty(0, np.uint64), *found])

    def folds(self, ctx, parts: int) -> Iterator[dict]:
        """Partitions folded two at a time (numpy and Arrow sort without the GIL)."""

        def one(p):
            rows = fold_part(ctx, self.spill.get(("rows", p)))
            self.spill.drop(("rows", p))
            return rows

        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = [pool.submit(one, p) for p in range(min(2, parts))]
            for p in range(parts):
                self.progress(p, parts, "computing the quota ledger")
                rows = pending.pop(0).result()
                if p + 2 < parts:
                    pending.append(pool.submit(one, p + 2))
                yield rows


class Spill:
    """Pieces of partitions kept in memory up to `limit` bytes, then appended to files in a
    temporary folder that is removed when the spill closes."""

    def __init__(self, limit: int) -> None:
        self.limit, self.held = limit, 0
        self.memory: dict = {}
        self.files: dict = {}
        self.lock = threading.Lock()
        self._folder: tempfile.TemporaryDirectory | None = None

    def close(self) -> None:
        for writer, _ in self.files.values():
            writer.close()
        if self._folder is not None:
            self._folder.cleanup()

    def put(self, key: tuple, batch: pa.RecordBatch) -> None:
        with self.lock:
            self.memory.setdefault(key, []).append(batch)
            self.held += batch.nbytes
            if self.limit and self.held > self.limit:
                for k in list(self.memory):
                    self._write(k)

    def _write(self, key) -> None:
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="ai-console-spill-")
        if key not in self.files:
            path = Path(self._folder.name) / "-".join(map(str, key))
            schema = self.memory[key][0].schema
            self.files[key] = (pa.ipc.new_stream(str(path), schema), path)
        for batch in self.memory.pop(key):
            self.files[key][0].write_batch(batch)
            self.held -= batch.nbytes

    def get(self, key) -> list[pa.RecordBatch]:
        out = []
        with self.lock:
            writer, path = self.files.pop(key, (None, None))
        if writer is not None:
            writer.close()
            with pa.OSFile(str(path)) as source:
                out = list(pa.ipc.open_stream(source))
        return out + self.memory.get(key, [])

    def drop(self, key) -> None:
        with self.lock:
            self.held -= sum(b.nbytes for b in self.memory.pop(key, []))
