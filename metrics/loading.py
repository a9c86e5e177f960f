"""Reading a dataset directory and checking every rule of section 1 of the contract.

Validation collects every broken rule before failing, so one run tells the admin all that is wrong
with their export, and nothing is half-loaded: either `load` returns complete tables or it raises
`DatasetError`. Input files are opened read-only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from metrics.model import DatasetError, Issue

EXAMPLES = 5
T = TypeVar("T")

USER_COLUMNS = {"user_id": "string", "name": "string", "email": "string", "team": "string"}
LICENSE_COLUMNS = {
    "license_id": "string",
    "user_id": "string",
    "plan": "string",
    "monthly_quota": "float",
    "valid_from": "timestamp",
    "valid_until": "timestamp",
}
OPTIONAL_LICENSE_COLUMNS = {"cycle_anchor": "timestamp"}
TOPUP_COLUMNS = {"user_id": "string", "effective_from": "timestamp", "monthly_limit": "float"}
REQUEST_COLUMNS = {
    "request_id": "string",
    "ts": "timestamp",
    "user_id": "string",
    "license_id": "string",
    "tool": "string",
    "mode": "string",
    "credits": "float",
}
NOT_NULL = {
    "users.parquet": ("user_id",),
    "licenses.parquet": ("license_id", "user_id", "plan", "monthly_quota", "valid_from"),
    "topup_limits.parquet": ("effective_from", "monthly_limit"),
    "requests": ("request_id", "ts", "user_id", "license_id", "tool", "credits"),
}


@dataclass(frozen=True)
class Requests:
    """The request table as flat arrays, aligned row by row, with ids replaced by codes.

    `user` and `license` index into `Tables.users` and `Tables.licenses`; `tool` holds the raw
    tool values by code (`tool_values[tool]`).
    """

    request_id: pa.ChunkedArray
    ts: np.ndarray  # int64 nanoseconds since the epoch, UTC
    user: np.ndarray  # int32
    license: np.ndarray  # int32
    tool: np.ndarray  # int32 code into tool_values
    tool_values: tuple[str, ...]
    credits: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True)
class Tables:
    name: str
    timezone: str
    users: pd.DataFrame  # user_id, name, email, team; positional index = user code
    licenses: pd.DataFrame  # license_id, user (code), plan, monthly_quota, valid_*, cycle_anchor
    topups: pd.DataFrame  # user (code; -1 = organization default), effective_from, monthly_limit
    requests: Requests | None


def dataset_files(root: Path) -> list[Path]:
    """Every file whose content can change a report; the cache fingerprint is taken over these."""
    files = [root / n for n in ("organization.json", "users.parquet", "licenses.parquet")]
    files += [root / "topup_limits.parquet", root / "requests.parquet"]
    out = [f for f in files if f.is_file()]
    req_dir = root / "requests"
    if req_dir.is_dir():
        out += sorted(p for p in req_dir.rglob("*") if p.is_file() and not _hidden(p, req_dir))
    return out


def _hidden(p: Path, base: Path) -> bool:
    return any(part.startswith((".", "_")) for part in p.relative_to(base).parts)


class _Checker:
    """Accumulates issues so that validation reports every broken rule at once."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, file, column, rule, rows=0, examples=()) -> None:
        self.issues.append(Issue(file, column, rule, int(rows), tuple(str(e) for e in examples)))

    def rows(self, file, column, rule, mask: np.ndarray, labels) -> bool:
        """Record rows where `mask` is true; `labels(indices)` describes a few of them."""
        bad = int(np.count_nonzero(mask))
        if bad:
            idx = np.flatnonzero(mask)[:EXAMPLES]
            self.add(file, column, rule, bad, labels(idx))
        return bad == 0


def _kind(t: pa.DataType) -> str | None:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "timestamp"
    if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_null(t):
        return "null"
    return None


_KIND_RULE = {
    "string": "must be a string column",
    "timestamp": "must be a timestamp column",
    "float": "must be a numeric (float64) column",
}


def _check_schema(
    chk, file, schema: pa.Schema, required: dict, optional: dict | None = None
) -> bool:
    optional = optional or {}
    ok = True
    names = set(schema.names)
    for col, kind in {**required, **optional}.items():
        if col not in names:
            if col in required:
                chk.add(file, col, "required column is missing")
                ok = False
            continue
        actual = _kind(schema.field(col).type)
        if actual != kind and not (actual == "null" and col not in NOT_NULL.get(file, ())):
            chk.add(file, col, f"{_KIND_RULE[kind]} (found {schema.field(col).type})")
            ok = False
    return ok


def _read_table(chk, root: Path, name: str, columns: dict, optional: dict | None = None):
    optional = optional or {}
    path = root / name
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
        chk.add(name, None, f"is not a readable Parquet file ({exc})")
        return None
    if not _check_schema(chk, name, schema, columns, optional):
        return None
    cols = [c for c in {**columns, **optional} if c in schema.names]
    return pq.read_table(path, columns=cols)


def _strings(arr) -> pa.ChunkedArray:
    arr = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_null(arr.type):
        return pa.chunked_array([pa.nulls(len(arr), pa.string())])
    return arr.cast(pa.large_string()) if not pa.types.is_large_string(arr.type) else arr


def _utc_ns(arr) -> np.ndarray:
    """Timestamps as int64 UTC nanoseconds; naive values are UTC, dates are midnight UTC."""
    arr = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
    t = arr.type
    if pa.types.is_null(t):
        return np.full(len(arr), np.iinfo(np.int64).min, dtype=np.int64)
    if pa.types.is_date(t):
        arr = arr.cast(pa.timestamp("s"))
        t = arr.type
    arr = arr.cast(pa.timestamp("ns", tz=t.tz)).cast(pa.int64())
    return _filled(arr, np.iinfo(np.int64).min).to_numpy()


NAT = np.iinfo(np.int64).min


def _filled(arr, value):
    """`fill_null` copies even when there is nothing to fill; most columns have no nulls."""
    return arr if arr.null_count == 0 else arr.fill_null(value)


def _floats(arr) -> np.ndarray:
    arr = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
    return _filled(arr.cast(pa.float64()), np.nan).to_numpy()


def _null_mask(arr) -> np.ndarray:
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return arr.is_null().to_numpy(zero_copy_only=False)


def _check_not_null(chk, file, table: pa.Table, labels) -> None:
    for col in NOT_NULL[file]:
        if col in table.column_names:
            chk.rows(file, col, "must not be null", _null_mask(table[col]), labels)


# Fixed multipliers of the string hash below (odd, so no byte is ever multiplied away).
_HASH_WEIGHTS = np.random.default_rng(20261124).integers(1, 2**62, 64, dtype=np.uint64) * 2 + 1


def _equal_length_hashes(chunk: pa.Array) -> np.ndarray | None:
    """64-bit hashes of a chunk of strings that all have one length, read off Arrow's buffers.

    Ids such as UUIDs or zero-padded counters all have one length; hashing their bytes as a
    matrix is several times faster than a hash table of strings. Returns None otherwise.
    """
    if chunk.null_count or len(chunk) == 0:
        return None if chunk.null_count else np.empty(0, dtype=np.uint64)
    off_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(chunk.buffers()[1], dtype=off_type)
    offsets = offsets[chunk.offset : chunk.offset + len(chunk) + 1]
    width = int(offsets[1] - offsets[0])
    if width > len(_HASH_WEIGHTS) or offsets[-1] - offsets[0] != width * len(chunk):
        return None
    if not (np.diff(offsets) == width).all():
        return None
    n = len(chunk)
    data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    h = np.full(n, width, dtype=np.uint64)
    if width < 8:
        matrix = data.reshape(n, width)
        for j in range(width):
            h += (matrix[:, j].astype(np.uint64) + 1) * _HASH_WEIGHTS[j]
        return h
    # Eight bytes at a time, read as (unaligned) words; the last word may overlap the one before.
    starts = sorted({*range(0, width - 7, 8), width - 8})
    for j, at in enumerate(starts):
        word = np.ndarray((n,), dtype="<u8", buffer=data, offset=at, strides=(width,))
        h += word * _HASH_WEIGHTS[j]
    return h


def _duplicated_values(values: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The values that occur more than once (None if all are unique), nulls left out."""
    values = values.drop_null()
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        hashes = [_equal_length_hashes(c) for c in values.chunks]
        if all(h is not None for h in hashes):
            h = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
            ordered = np.sort(h)
            repeated = ordered[1:][ordered[1:] == ordered[:-1]]
            if len(repeated) == 0:
                return None
            values = values.filter(pa.array(np.isin(h, repeated)))
    counts = pc.value_counts(values)
    dup = counts.filter(pc.greater(counts.field("counts"), 1))
    return dup if len(dup) else None


def _duplicates(chk, file, column, values: pa.ChunkedArray) -> None:
    _report_duplicates(chk, file, column, _duplicated_values(values))


def _report_duplicates(chk, file, column, dup: pa.StructArray | None) -> None:
    if dup is None:
        return
    rows = int(pc.sum(dup.field("counts")).as_py())
    examples = [repr(v) for v in dup.field("values")[:EXAMPLES].to_pylist()]
    chk.add(file, column, "must be unique", rows, examples)


def _amounts(chk, file, column, arr, labels) -> np.ndarray:
    """Float64 values; NaN, infinities and negatives are reported (nulls have their own rule)."""
    values = _floats(arr)
    with np.errstate(invalid="ignore"):
        bad = ~_null_mask(arr) & ~(np.isfinite(values) & (values >= 0))
    chk.rows(file, column, "must be a finite number >= 0", bad, labels)
    return values


def read_organization(chk, root: Path, tz_override: str | None) -> tuple[str, str]:
    name, tz = root.name, "UTC"
    path = root / "organization.json"
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("the top level must be an object")
        except (ValueError, UnicodeDecodeError) as exc:
            chk.add("organization.json", None, f"must be a JSON object ({exc})")
            doc = {}
        if isinstance(doc.get("name"), str) and doc["name"].strip():
            name = doc["name"]
        if "timezone" in doc:
            tz = doc["timezone"]
            if tz_override is None and not valid_timezone(tz):
                rule = f"must be an IANA timezone name (got {tz!r})"
                chk.add("organization.json", "timezone", rule)
    return name, tz_override or (tz if isinstance(tz, str) else "UTC")


def valid_timezone(tz) -> bool:
    if not isinstance(tz, str) or not tz:
        return False
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _open_requests(chk, root: Path):
    file, folder = root / "requests.parquet", root / "requests"
    if file.is_file() and folder.is_dir():
        chk.add("requests", None, "give either requests.parquet or requests/, not both")
        return None
    if not file.is_file() and not folder.is_dir():
        chk.add("requests.parquet", None, "required file is missing (or a requests/ directory)")
        return None
    source = file if file.is_file() else folder
    label = "requests.parquet" if file.is_file() else "requests/"
    try:
        schema = pq.ParquetDataset(source, partitioning="hive").schema
    except Exception as exc:  # noqa: BLE001 - any unreadable dataset is reported, not raised
        chk.add(label, None, f"is not a readable Parquet dataset ({exc})")
        return None
    if not _check_schema(chk, "requests", schema, REQUEST_COLUMNS):
        return None
    try:
        # `mode` has no rule beyond its type and feeds no metric, so it is never read; ids are
        # read as dictionaries, so they are looked up once per distinct value.
        return pq.read_table(
            source,
            columns=[c for c in REQUEST_COLUMNS if c != "mode"],
            read_dictionary=["user_id", "license_id", "tool"],
            partitioning="hive",
        )
    except Exception as exc:  # noqa: BLE001
        chk.add(label, None, f"could not be read as one table ({exc})")
        return None


def _positions(index: pd.Index, wanted) -> np.ndarray:
    """Index positions of `wanted` (-1 if absent); a duplicated id maps to its first row, since
    duplicates are already reported and must not hide the other rules' findings."""
    if index.is_unique:
        return index.get_indexer(wanted).astype(np.int32)
    first = np.flatnonzero(~index.duplicated())
    found = index[first].get_indexer(wanted)
    return np.where(found >= 0, first[np.maximum(found, 0)], -1).astype(np.int32)


def _dictionary_indices(values: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """One dictionary shared by all chunks, and each row's index into it (-1 for null)."""
    if not pa.types.is_dictionary(values.type):
        values = pc.dictionary_encode(values)
    values = values.unify_dictionaries()
    if values.num_chunks == 0:
        return pa.array([], pa.string()), np.empty(0, dtype=np.int32)
    indices = np.concatenate([_filled(c.indices, -1).to_numpy() for c in values.chunks])
    return values.chunk(0).dictionary, indices


def _codes(values: pa.ChunkedArray, index: pd.Index) -> np.ndarray:
    """Positions of `values` in `index` (-1 when absent or null), one lookup per distinct value."""
    dictionary, indices = _dictionary_indices(values)
    # A trailing -1 serves the nulls, whose index -1 picks the last entry.
    lookup = np.append(_positions(index, dictionary.to_pandas()), -1)
    return lookup[indices]


def load(root: os.PathLike | str, timezone: str | None = None) -> Tables:
    """Read and validate a dataset; raise `DatasetError` naming every broken rule."""
    return _load(Path(root), timezone, with_requests=True)[0]


def load_then(root: os.PathLike | str, timezone: str | None, then: Callable[[Tables], T]):
    """`load`, with `then(tables)` computed while the costliest check (id uniqueness) finishes.

    The result of `then` is returned, beside the tables, only when the dataset is valid: a
    rejected dataset raises `DatasetError` as `load` does, and nothing computed from it escapes.
    """
    return _load(Path(root), timezone, with_requests=True, then=then)


def load_light(root: os.PathLike | str, timezone: str | None = None) -> Tables | None:
    """The small tables only, for a dataset whose requests were validated into a cached ledger.

    Returns None where anything is wrong, so the caller falls back to the full `load` and its
    complete error report.
    """
    try:
        return _load(Path(root), timezone, with_requests=False)[0]
    except DatasetError:
        return None


def _load(root: Path, timezone: str | None, with_requests: bool, then=None):
    chk = _Checker()
    if not root.is_dir():
        raise DatasetError(str(root), [Issue(str(root), None, "is not a directory", 0)])
    name, tz = read_organization(chk, root, timezone)

    users_t = licenses_t = topups_t = requests_t = None
    for fname in ("users.parquet", "licenses.parquet"):
        if not (root / fname).is_file():
            chk.add(fname, None, "required file is missing")
    if (root / "users.parquet").is_file():
        users_t = _read_table(chk, root, "users.parquet", USER_COLUMNS)
    if (root / "licenses.parquet").is_file():
        licenses_t = _read_table(
            chk, root, "licenses.parquet", LICENSE_COLUMNS, OPTIONAL_LICENSE_COLUMNS
        )
    if (root / "topup_limits.parquet").is_file():
        topups_t = _read_table(chk, root, "topup_limits.parquet", TOPUP_COLUMNS)
    if with_requests:
        requests_t = _open_requests(chk, root)
    elif not (root / "requests.parquet").is_file() and not (root / "requests").is_dir():
        chk.add("requests.parquet", None, "required file is missing (or a requests/ directory)")

    users = licenses = topups = requests = None
    if users_t is not None:
        users = _guarded(chk, "users.parquet", _validate_users, chk, users_t)
    if licenses_t is not None and users is not None:
        licenses = _guarded(chk, "licenses.parquet", _validate_licenses, chk, licenses_t, users)
    if users is not None:
        topups = _guarded(chk, "topup_limits.parquet", _validate_topups, chk, topups_t, users)
    tables, extra = None, None
    if requests_t is not None and users is not None and licenses is not None:
        rid = _request_ids(requests_t)
        # The uniqueness of millions of ids is the costliest check; it runs beside the rest.
        with ThreadPoolExecutor(max_workers=1) as pool:
            duplicated = pool.submit(_duplicated_values, rid)
            requests = _guarded(
                chk, "requests", _validate_requests, chk, requests_t, rid, users, licenses
            )
            if requests is not None and not chk.issues:
                tables = Tables(name, tz, users, licenses, topups, requests)
                extra = then(tables) if then is not None else None
            _report_duplicates(chk, "requests", "request_id", duplicated.result())
    if chk.issues or (with_requests and requests is None):
        raise DatasetError(str(root), chk.issues)
    return tables or Tables(name, tz, users, licenses, topups, requests), extra


def _guarded(chk, file, fn, *args):
    """Values Arrow cannot convert (a timestamp beyond the year 2262, a decimal too wide for a
    float) are reported against their file like any broken rule, never raised."""
    try:
        return fn(*args)
    except (pa.ArrowInvalid, ValueError, OverflowError) as exc:
        chk.add(file, None, f"holds values that cannot be read ({exc})")
        return None


def _validate_users(chk, t: pa.Table) -> pd.DataFrame:
    f = "users.parquet"
    ids = _strings(t["user_id"])
    _check_not_null(chk, f, t, lambda i: [f"row {j}" for j in i])
    _duplicates(chk, f, "user_id", ids)
    return pd.DataFrame(
        {
            "user_id": ids.to_pandas(),
            "name": _strings(t["name"]).to_pandas(),
            "email": _strings(t["email"]).to_pandas(),
            "team": _strings(t["team"]).to_pandas(),
        }
    )


def _validate_licenses(chk, t: pa.Table, users: pd.DataFrame) -> pd.DataFrame:
    f = "licenses.parquet"
    ids = _strings(t["license_id"])
    id_list = ids.to_pandas()

    def labels(idx):
        return [f"license_id={id_list.iloc[j]!r}" for j in idx]

    _check_not_null(chk, f, t, labels)
    _duplicates(chk, f, "license_id", ids)
    owner = _codes(_strings(t["user_id"]), pd.Index(users["user_id"]))
    present = ~_null_mask(t["user_id"])
    chk.rows(f, "user_id", "must exist in users.parquet", present & (owner < 0), labels)
    quota = _amounts(chk, f, "monthly_quota", t["monthly_quota"], labels)
    anchor = _utc_ns(t["cycle_anchor"]) if "cycle_anchor" in t.column_names else None
    return pd.DataFrame(
        {
            "license_id": id_list,
            "user": owner,
            "plan": _strings(t["plan"]).to_pandas(),
            "monthly_quota": quota,
            "valid_from": pd.to_datetime(_utc_ns(t["valid_from"]), utc=True),
            "valid_until": _ts_or_nat(_utc_ns(t["valid_until"])),
            "cycle_anchor": _ts_or_nat(anchor if anchor is not None else np.full(len(t), NAT)),
        }
    )


def _ts_or_nat(ns: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(np.where(ns == NAT, NAT, ns).view("datetime64[ns]"), utc=True))


def _validate_topups(chk, t: pa.Table | None, users: pd.DataFrame) -> pd.DataFrame:
    empty = pd.DataFrame(
        {
            "user": pd.Series(dtype=np.int32),
            "effective_from": pd.Series(dtype=np.int64),
            "monthly_limit": pd.Series(dtype=float),
        }
    )
    if t is None:
        return empty
    f = "topup_limits.parquet"

    def labels(idx):
        return [f"row {j}" for j in idx]

    _check_not_null(chk, f, t, labels)
    limit = _amounts(chk, f, "monthly_limit", t["monthly_limit"], labels)
    user_ids = _strings(t["user_id"])
    codes = _codes(user_ids, pd.Index(users["user_id"]))
    is_default = _null_mask(user_ids)
    # Rows of users absent from users.parquet can never apply; the contract sets no rule on them.
    keep = is_default | (codes >= 0)
    return pd.DataFrame(
        {
            "user": np.where(is_default, -1, codes)[keep].astype(np.int32),
            "effective_from": _utc_ns(t["effective_from"])[keep],
            "monthly_limit": limit[keep],
        }
    )


def _request_ids(t: pa.Table) -> pa.ChunkedArray:
    rid = t["request_id"]
    return rid.cast(rid.type.value_type) if pa.types.is_dictionary(rid.type) else rid


def _validate_requests(chk, t: pa.Table, rid, users: pd.DataFrame, licenses: pd.DataFrame):
    f = "requests"

    def labels(idx):
        return [f"request_id={v!r}" for v in rid.take(pa.array(idx)).to_pylist()]

    _check_not_null(chk, f, t, labels)
    user = _codes(t["user_id"], pd.Index(users["user_id"]))
    lic = _codes(t["license_id"], pd.Index(licenses["license_id"]))
    user_present = ~_null_mask(t["user_id"])
    lic_present = ~_null_mask(t["license_id"])
    chk.rows(f, "user_id", "must exist in users.parquet", user_present & (user < 0), labels)
    chk.rows(f, "license_id", "must exist in licenses.parquet", lic_present & (lic < 0), labels)
    owner = licenses["user"].to_numpy()[np.maximum(lic, 0)]
    foreign = (lic >= 0) & (user >= 0) & (owner != user)
    chk.rows(f, "license_id", "must belong to the request's user_id", foreign, labels)
    amounts = _amounts(chk, f, "credits", t["credits"], labels)

    tool_values, tool_codes = _dictionary_indices(t["tool"])
    return Requests(
        request_id=rid,
        ts=_utc_ns(t["ts"]),
        user=user,
        license=lic,
        tool=tool_codes.astype(np.int32, copy=False),
        tool_values=tuple(tool_values.to_pylist()),
        credits=amounts,
    )
