"""Reading a dataset directory: organization.json, the small tables, and the requests as units
of work (one row group of one file each) that a thread or a Dask worker reads in batches.

Input files are only ever opened for reading, and every failure to read one becomes a rule
message naming the file (a partition by its path inside the dataset), never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from metrics.model import MICRO
from metrics.rules import (
    NUMBER,
    REQUEST_READ,
    SCHEMAS,
    STRING,
    TIMESTAMP,
    YEARS,
    Checker,
    bad_amounts,
    check_schema,
    floats,
    nulls,
    numbers,
)

BATCH_ROWS = 262144
JSON_LIMIT = 1 << 20
DICTIONARY_COLUMNS = ("user_id", "license_id", "tool")
TICKS = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
# 0001-01-01 and 10000-01-01 as seconds since the epoch.
FIRST_S, END_S = -62_135_596_800, 253_402_300_800
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # how Arrow and Spark write a null in a path
I64 = np.iinfo(np.int64)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEVER = I64.max


def valid_timezone(tz) -> bool:
    if not isinstance(tz, str) or not tz:
        return False
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def organization(chk: Checker, root: Path, tz_override: str | None) -> tuple[str, str]:
    """The organization's name (default: the folder's) and timezone (default UTC)."""
    name, tz, path = root.name, "UTC", root / "organization.json"
    doc: dict = {}
    if path.exists():
        try:
            if path.stat().st_size > JSON_LIMIT:
                raise ValueError(f"is larger than {JSON_LIMIT // 1024} KB")
            # utf-8-sig: a byte order mark, as some editors write, is not an error.
            doc = json.loads(path.read_text(encoding="utf-8-sig"))
            if not isinstance(doc, dict):
                raise ValueError("the top level must be an object")
        except (OSError, ValueError, RecursionError) as exc:
            chk.add("organization.json", None, f"must be a JSON object ({short(exc)})")
            doc = {}
    if isinstance(doc.get("name"), str) and doc["name"].strip():
        name = doc["name"].strip()
    if "timezone" in doc:
        tz = doc["timezone"]
        if tz_override is None and not valid_timezone(tz):
            chk.add("organization.json", "timezone", f"must be an IANA timezone name ({tz!r:.60})")
    return name, tz_override or (tz if valid_timezone(tz) else "UTC")


def short(exc: BaseException) -> str:
    """An exception's message on one line, short enough to read among the others."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def source(path):
    """A path for Arrow, or an open file where the name is not UTF-8 (Arrow takes only text)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return open(path, "rb")  # noqa: SIM115 - closed when Arrow's reader is
    return str(path)


def small_table(chk: Checker, root: Path, file: str) -> pa.Table | None:
    """A whole small table with its declared columns, or None (and why in `chk`)."""
    try:
        pf = pq.ParquetFile(source(root / file))
        if not check_schema(chk, file, pf.schema_arrow):
            return None
        names = [c.name for c in SCHEMAS[file] if c.name in pf.schema_arrow.names]
        return plain(pf.read(columns=names))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a message, never a crash
        chk.add(file, None, f"is not a readable Parquet file ({short(exc)})")
        return None


@dataclass(frozen=True)
class Unit:
    """One row group of one request file; `keys` are columns a hive path (tool=chat/) holds,
    `names` the columns of the file itself."""

    path: str
    row_group: int
    label: str  # the file's path inside the dataset
    keys: tuple[tuple[str, str], ...]
    rows: int
    names: tuple[str, ...]


def request_units(chk: Checker, root: Path) -> tuple[list[Unit], str] | None:
    """Every unit of the requests, each file's schema checked, and the time unit of `ts`."""
    file, folder = root / "requests.parquet", root / "requests"
    if file.is_file() and folder.is_dir():
        chk.add("requests", None, "give either requests.parquet or requests/, not both")
        return None
    if file.is_file():
        paths = [file]
    elif folder.is_dir():
        try:
            paths = request_dir_files(folder)
        except OSError as exc:
            chk.add("requests/", None, f"cannot be listed ({short(exc)})")
            return None
        if not paths:
            chk.add("requests/", None, "holds no Parquet file")
            return None
    elif file.exists():
        chk.add("requests.parquet", None, "is not a file (a requests/ folder is read as one)")
        return None
    else:
        chk.add("requests.parquet", None, "required file is missing (or a requests/ directory)")
        return None
    units, units_of_ts = [], set()
    for path in paths:
        label = path.relative_to(root).as_posix()
        keys = tuple(
            (k, None if v == HIVE_NULL else unquote(v))
            for k, _, v in (p.partition("=") for p in path.relative_to(root).parts[1:-1])
            if k in dict.fromkeys(c.name for c in SCHEMAS["requests"])
        )
        try:
            pf = pq.ParquetFile(source(path))
            schema = pf.schema_arrow
            names = tuple(schema.names)
            for k, _ in keys:
                if k not in schema.names:
                    schema = schema.append(pa.field(k, pa.string()))
            if not check_schema(chk, "requests", schema, label):
                continue
            groups = [
                (g, pf.metadata.row_group(g).num_rows) for g in range(pf.metadata.num_row_groups)
            ]
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a message
            chk.add(label, None, f"is not a readable Parquet file ({short(exc)})")
            continue
        ts_type = schema.field("ts").type
        units_of_ts.add(ts_type.unit if pa.types.is_timestamp(ts_type) else "s")
        units += [Unit(str(path), g, label, keys, rows, names) for g, rows in groups]
    # Nanoseconds only where every file has them: they end in 2262, finer units hold year 9999.
    return units, "ns" if units_of_ts == {"ns"} else "us"


def request_dir_files(folder: Path) -> list[Path]:
    """The data files of a Parquet dataset directory; like Arrow, skip names starting . or _."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(s.startswith((".", "_")) for s in p.relative_to(folder).parts)
    )


def dataset_files(root: Path) -> list[Path]:
    """Every file whose content can change an answer."""
    names = ("organization.json", "users.parquet", "licenses.parquet", "topup_limits.parquet")
    out = [root / n for n in (*names, "requests.parquet") if (root / n).exists()]
    return out + (request_dir_files(root / "requests") if (root / "requests").is_dir() else [])


def batches(
    unit: Unit, columns=REQUEST_READ, decoded: Future | None = None
) -> Iterator[pa.RecordBatch]:
    """The unit's rows in batches. The id columns of the whole row group are read at once, as
    dictionaries: one dictionary per row group, so an id is looked up once per row group rather
    than once per batch (a file's dictionary page overflows for 100,000 users). One Arrow thread:
    the scan already reads a unit per core. `decoded`: the row group decoded by `ReadAhead`."""
    if decoded is None:
        names, ids, rest = _layout(columns, unit.names)
        pf = pq.ParquetFile(source(unit.path), read_dictionary=ids)
        whole = pf.read_row_group(unit.row_group, columns=ids, use_threads=False)
        pieces = pf.iter_batches(
            BATCH_ROWS, row_groups=[unit.row_group], columns=rest, use_threads=False
        )
    else:
        whole = decoded.result()
        names, ids, rest = _layout(columns, whole.column_names)
        pieces = whole.select(rest).to_batches(BATCH_ROWS)
    at, keys = 0, dict(unit.keys)
    for b in pieces:
        n = b.num_rows
        out = {c: whole[c].slice(at, n).combine_chunks() for c in ids}
        out.update({c: b.column(c) for c in rest})
        out.update({k: pa.array([keys[k]] * n, pa.string()) for k in columns if k not in names})
        at += n
        yield plain(pa.record_batch([out[c] for c in columns], names=list(columns)))


class ReadAhead:
    """The first units' row groups decoded whole on a thread of their own, while the caller
    reads the small tables and imports pandas on one core: Parquet decoding releases the GIL,
    so the other core is busy meanwhile. What it holds is bounded by `budget` bytes."""

    ROW_BYTES = 100

    def __init__(self, units: list[Unit], budget: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._ahead: dict[Unit, Future] = {}
        for u in units:
            budget -= u.rows * self.ROW_BYTES
            if budget < 0:
                break
            self._ahead[u] = self._pool.submit(_decode, u)

    def batches(self, unit: Unit) -> Iterator[pa.RecordBatch]:
        decoded = self._ahead.pop(unit, None)
        if decoded is not None and decoded.cancel():
            decoded = None  # not begun yet: streamed here rather than waited for
        return batches(unit, decoded=decoded)

    def close(self) -> None:
        self._ahead.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _layout(columns, available) -> tuple[list[str], list[str], list[str]]:
    """Of `columns`, those `available`, which of them are read as dictionaries, and the others
    (at least one column, so that batches still count the rows)."""
    names = [c for c in columns if c in available]
    ids = [c for c in DICTIONARY_COLUMNS if c in names]
    return names, ids, [c for c in names if c not in ids] or names[:1]


def _decode(unit: Unit) -> pa.Table:
    names, ids, _ = _layout(REQUEST_READ, unit.names)
    pf = pq.ParquetFile(source(unit.path), read_dictionary=ids)
    return pf.read_row_group(unit.row_group, columns=names, use_threads=False)


def plain(table):
    """String views as plain strings: several Arrow kernels have none for views."""
    views = [i for i, f in enumerate(table.schema) if pa.types.is_string_view(f.type)]
    for i in views:
        table = table.set_column(i, table.schema[i].name, table.column(i).cast(pa.large_string()))
    return table


def columns(chk: Checker, file: str, table: pa.Table, unit: str, labels) -> dict:
    """A checked small table's declared columns as the engine keeps them: strings as Arrow,
    amounts as int64 micro-credits, instants as int64 ticks of `unit` (NEVER when null or
    absent). Broken values become 0: the rules already reject their dataset."""
    out = {}
    for col in SCHEMAS[file]:
        values = table[col.name].combine_chunks() if col.name in table.column_names else None
        if col.kind == STRING:
            out[col.name] = strings(values)
        elif col.kind == NUMBER:
            v = floats(values)
            broken = bad_amounts(v, np.zeros(len(v), bool))
            out[col.name] = np.rint(np.where(broken, 0, v) * MICRO).astype(np.int64)
        elif values is None:
            out[col.name] = np.full(table.num_rows, NEVER)
        else:
            ticks, outside = instants(values, unit)
            chk.rows(file, col.name, YEARS, outside, labels)
            out[col.name] = np.where(nulls(values), NEVER, ticks)
    return out


def codes(values: pa.Array, keys: pa.Array) -> np.ndarray:
    """Each value's row in `keys` (-1: absent or null; a null matches nothing), compared as
    bytes."""
    binary = keys.cast(pa.large_binary())
    found = pc.index_in(pc.cast(values, pa.large_binary()), value_set=binary, skip_nulls=True)
    return numbers(found, -1).astype(np.int32)


def strings(values) -> pa.Array:
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    return values.cast(pa.string())


def instants(values, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (naive ones are UTC, dates midnight UTC) as int64 ticks of `unit`, and which
    lie outside the years 1 to 9999. Values beyond what `unit` holds are clamped, which keeps
    their order against every request."""
    t = values.type
    if pa.types.is_null(t):
        return np.zeros(len(values), np.int64), np.zeros(len(values), bool)
    if pa.types.is_date(t):
        values, t = values.cast(pa.timestamp("s")), pa.timestamp("s")
    raw = numbers(values.cast(pa.int64()), 0)
    per_s = TICKS[t.unit]
    outside = (raw < FIRST_S * per_s) | (raw >= END_S * per_s)
    factor = TICKS[unit] // per_s if TICKS[unit] >= per_s else 0
    if factor:
        ticks = np.clip(raw, I64.min // factor, I64.max // factor) * factor
    else:
        ticks = raw // (per_s // TICKS[unit])
    return ticks, outside


def off_calendar(ticks: np.ndarray, unit: str, timezone: str, rows: np.ndarray) -> np.ndarray:
    """Which of `rows` (a mask) fall on a local date before the year 1 or after 9999: only an
    instant within a day of those ends can, so few are looked at one by one."""
    per_day, out = 86_400 * TICKS[unit], np.zeros(len(ticks), dtype=bool)
    near = rows & (
        (ticks < (FIRST_S * TICKS[unit] + per_day)) | (ticks >= END_S * TICKS[unit] - per_day)
    )
    zone = ZoneInfo(timezone)
    for i in np.flatnonzero(near):
        try:
            (EPOCH + timedelta(microseconds=int(ticks[i]) * 10**6 // TICKS[unit])).astimezone(zone)
        except OverflowError:
            out[i] = True
    return out


def fits_nanoseconds(table: pa.Table, file: str) -> bool:
    """Whether every timestamp of a small table can be held in nanoseconds (1677 to 2262)."""
    for col in SCHEMAS[file]:
        if col.kind == TIMESTAMP and col.name in table.column_names:
            ticks, outside = instants(table[col.name].combine_chunks(), "us")
            if ((np.abs(ticks) > I64.max // 1000) & ~outside).any():
                return False
    return True
