"""Reading a dataset directory with pyarrow alone, checking the requests as they stream by.

The requests are the only big input: millions of rows, of which the ledger needs the few that
count (no completions, no zero-credit rows). They are read one row group at a time on two
threads, in batches; every rule of section 1 is checked on each batch and only the counted rows
are kept. Memory stays at a few batches instead of the whole table, which matters more than it
seems: on a virtual machine, touching a gigabyte of fresh memory costs more than all the checks.

Nothing here imports pandas, which a report never needs and which takes a third of a second to
import; pyarrow's own converters to and from numpy do import it, so this module reads and builds
Arrow buffers itself. Input files are opened read-only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from metrics.model import EXCLUDED_TOOLS, MICRO, Issue, Tool

EXAMPLES = 5
BATCH_ROWS = 65_536
WORKERS = 2
NAT = np.iinfo(np.int64).min

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
# `mode` has no rule beyond its type and feeds no metric, so it is never read.
READ_COLUMNS = [c for c in REQUEST_COLUMNS if c != "mode"]
# Ids are read as dictionaries, so they are looked up once per distinct value.
DICTIONARY_COLUMNS = ["user_id", "license_id", "tool"]
NOT_NULL = {
    "users.parquet": ("user_id",),
    "licenses.parquet": ("license_id", "user_id", "plan", "monthly_quota", "valid_from"),
    "topup_limits.parquet": ("effective_from", "monthly_limit"),
    "requests": ("request_id", "ts", "user_id", "license_id", "tool", "credits"),
}
UNREADABLE = (pa.ArrowInvalid, ValueError, OverflowError)


class Checker:
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


# -- files and schemas -------------------------------------------------------------------------


def dataset_files(root: Path) -> list[Path]:
    """Every file whose content can change a report; the cache fingerprint is taken over these."""
    files = [root / n for n in ("organization.json", "users.parquet", "licenses.parquet")]
    files += [root / "topup_limits.parquet", root / "requests.parquet"]
    out = [f for f in files if f.is_file()]
    req_dir = root / "requests"
    if req_dir.is_dir():
        out += _request_dir_files(req_dir)
    return out


def _request_dir_files(folder: Path) -> list[Path]:
    """The data files of a Parquet dataset directory; like Arrow, skip names starting . or _."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not _hidden(p, folder))


def _hidden(p: Path, base: Path) -> bool:
    return any(part.startswith((".", "_")) for part in p.relative_to(base).parts)


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


def check_schema(chk, file, schema: pa.Schema, required: dict, optional: dict | None = None):
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


def read_table(chk, root: Path, name: str, columns: dict, optional: dict | None = None):
    optional = optional or {}
    path = root / name
    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
        chk.add(name, None, f"is not a readable Parquet file ({exc})")
        return None
    if not check_schema(chk, name, schema, columns, optional):
        return None
    return pf.read(columns=[c for c in {**columns, **optional} if c in schema.names])


# -- column conversions ------------------------------------------------------------------------


def strings(arr) -> pa.ChunkedArray:
    arr = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_null(arr.type):
        return pa.chunked_array([pa.nulls(len(arr), pa.string())])
    return arr.cast(pa.large_string()) if not pa.types.is_large_string(arr.type) else arr


def utc_ns(arr) -> np.ndarray:
    """Timestamps as int64 UTC nanoseconds; naive values are UTC, dates are midnight UTC."""
    t = arr.type
    if pa.types.is_null(t):
        return np.full(len(arr), NAT, dtype=np.int64)
    if pa.types.is_date(t):
        arr = arr.cast(pa.timestamp("s"))
        t = arr.type
    return to_numpy(arr.cast(pa.timestamp("ns", tz=t.tz)).cast(pa.int64()), NAT)


def to_numpy(arr, fill=0) -> np.ndarray:
    """A numeric or boolean Arrow array (or chunked array) as numpy, nulls replaced by `fill`.

    Read off the buffers, because pyarrow's own `to_numpy`, like anything that makes an Arrow
    scalar from a Python value, imports pandas. No copy is made when the array has no nulls; the
    result is then read-only.
    """
    if isinstance(arr, pa.ChunkedArray):
        parts = [to_numpy(c, fill) for c in arr.chunks]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([np.empty(0, _dtype(arr.type)), *parts])
    n = len(arr)
    if pa.types.is_null(arr.type):
        return np.full(n, fill)
    if n == 0:
        return np.empty(0, _dtype(arr.type))
    if pa.types.is_boolean(arr.type):
        values = _bits(arr.buffers()[1], arr.offset, n)
    else:
        dtype = _dtype(arr.type)
        buf = arr.buffers()[1]
        values = np.frombuffer(buf, dtype, count=n, offset=arr.offset * dtype.itemsize)
    return values if arr.null_count == 0 else np.where(valid(arr), values, fill)


def _dtype(t: pa.DataType) -> np.dtype:
    return np.dtype(bool) if pa.types.is_boolean(t) else np.dtype(t.to_pandas_dtype())


def _bits(buf: pa.Buffer, offset: int, n: int) -> np.ndarray:
    packed = np.frombuffer(buf, np.uint8)
    return np.unpackbits(packed, count=offset + n, bitorder="little")[offset:].view(bool)


def valid(arr) -> np.ndarray:
    """Whether each value of an Arrow array (or chunked array) is present."""
    if isinstance(arr, pa.ChunkedArray):
        return np.concatenate([np.empty(0, bool), *(valid(c) for c in arr.chunks)])
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    if arr.null_count == len(arr) or arr.buffers()[0] is None:
        return np.zeros(len(arr), dtype=bool)
    return _bits(arr.buffers()[0], arr.offset, len(arr))


def numpy_to_arrow(values: np.ndarray) -> pa.Array:
    """A numeric numpy array as Arrow, sharing its memory, without pyarrow's pandas-importing
    converters."""
    if values.dtype.kind == "b":
        return arrow_mask(values)  # Arrow packs booleans into bits
    values = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("="))
    kind = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def arrow_indices(idx: np.ndarray) -> pa.Array:
    """Row positions for `take`."""
    return numpy_to_arrow(np.asarray(idx, dtype=np.int64))


def arrow_mask(mask: np.ndarray) -> pa.Array:
    """A boolean numpy mask for `filter`, built like `arrow_indices`."""
    bits = np.packbits(np.asarray(mask, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(bits)])


def floats(arr) -> np.ndarray:
    return to_numpy(arr.cast(pa.float64()), np.nan)


def null_mask(arr) -> np.ndarray:
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return ~valid(arr)


def check_not_null(chk, file, table: pa.Table, labels) -> None:
    for col in NOT_NULL[file]:
        if col in table.column_names:
            chk.rows(file, col, "must not be null", null_mask(table[col]), labels)


def amounts(chk, file, column, arr, labels) -> np.ndarray:
    """Float64 values; NaN, infinities and negatives are reported (nulls have their own rule)."""
    values = floats(arr)
    chk.rows(file, column, AMOUNT_RULE, _bad_amounts(values, arr), labels)
    return values


AMOUNT_RULE = "must be a finite number >= 0"


def _bad_amounts(values: np.ndarray, arr) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return ~null_mask(arr) & ~(np.isfinite(values) & (values >= 0))


def codes(values, keys: pa.Array) -> np.ndarray:
    """Row positions of `values` in `keys` (int32; -1 when absent or null), one lookup per
    distinct value. A duplicated key maps to its first row: duplicates are reported on their
    own and must not hide the other rules' findings."""
    return _PerValue(_positions_in(keys))(values)[0]


def _positions_in(keys: pa.Array):
    def positions(dictionary: pa.Array) -> tuple[np.ndarray]:
        found = pc.index_in(dictionary.cast(keys.type), value_set=keys)
        return (np.append(to_numpy(found, -1), -1).astype(np.int32),)

    return positions


class _PerValue:
    """Per-row values of a string column computed once per distinct value.

    `compute(dictionary)` returns arrays with one entry per dictionary value and a last entry
    for nulls (whose index -1 picks it). The last dictionary is remembered, since the batches of
    one row group share theirs.
    """

    def __init__(self, compute) -> None:
        self._compute = compute
        self._dictionary: pa.Array | None = None
        self._tables: tuple[np.ndarray, ...] = ()

    def __call__(self, values) -> tuple[np.ndarray, ...]:
        chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
        parts = [self._chunk(c) for c in chunks] or [self._chunk(pa.nulls(0, pa.string()))]
        if len(parts) == 1:
            return parts[0]
        return tuple(np.concatenate(columns) for columns in zip(*parts, strict=True))

    def _chunk(self, chunk: pa.Array) -> tuple[np.ndarray, ...]:
        if pa.types.is_null(chunk.type):
            chunk = pa.nulls(len(chunk), pa.string())
        if not pa.types.is_dictionary(chunk.type):
            chunk = pc.dictionary_encode(chunk)
        d = chunk.dictionary
        if self._dictionary is None or not self._dictionary.equals(d):
            self._tables = self._compute(d)
            self._dictionary = d
        rows = to_numpy(chunk.indices, -1)
        return tuple(table[rows] for table in self._tables)


# -- request ids -------------------------------------------------------------------------------


def _hash_weights(words: int) -> np.ndarray:
    """Fixed odd multipliers, one per 8-byte word of an id (odd, so no byte is multiplied away),
    from SplitMix64: numpy.random would add its import to every cold start."""
    out, state, mask = [], 20261124, 2**64 - 1
    for _ in range(max(words, 1)):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = (state ^ (state >> 30)) * 0xBF58476D1CE4E5B9 & mask
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB & mask
        out.append((z ^ (z >> 31)) | 1)
    return np.array(out, dtype=np.uint64)


_WEIGHTS = _hash_weights(8)


def _id_bytes(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (from the chunk's first byte) and bytes of a non-empty string chunk, read off
    Arrow's buffers."""
    if not pa.types.is_large_string(chunk.type):
        chunk = _as_string(chunk)
    kind = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(chunk.buffers()[1], kind)[chunk.offset : chunk.offset + len(chunk) + 1]
    data = np.frombuffer(chunk.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return offsets - offsets[0], data


def _words(data: np.ndarray, n: int, width: int, kind: str = "<u8") -> list[np.ndarray]:
    """The 8-byte words of `n` ids of one width (8 or more), read in place, unaligned; the last
    word may overlap the one before."""
    starts = sorted({*range(0, width - 7, 8), width - 8})
    return [np.ndarray((n,), kind, buffer=data, offset=at, strides=(width,)) for at in starts]


def id_hashes(chunk: pa.Array) -> np.ndarray:
    """64-bit hashes of a chunk of non-null strings, read off Arrow's buffers as 8-byte words.

    Hashing the bytes as a matrix is several times faster than a hash table of strings. Equal
    strings always hash equal, so distinct hashes prove distinct ids; equal hashes are only
    candidates, which `duplicated_values` then compares exactly.
    """
    global _WEIGHTS
    n = len(chunk)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    offsets, data = _id_bytes(chunk)
    lengths = np.diff(offsets)
    width = int(lengths.max())
    words = -(-width // 8)
    weights = _WEIGHTS
    if words > len(weights):
        # Reading threads may race here; any longer table starts with the same weights.
        weights = _hash_weights(words)
        if len(weights) > len(_WEIGHTS):
            _WEIGHTS = weights
    h = lengths.astype(np.uint64)
    if width == 0:
        return h
    if width >= 8 and int(lengths.min()) == width:
        # All ids one length (UUIDs, zero-padded counters): no padding needed.
        for j, word in enumerate(_words(data, n, width)):
            h += word * weights[j]
        return h
    padded = np.zeros((n, words * 8), dtype=np.uint8)
    row = np.repeat(np.arange(n), lengths)
    col = np.arange(len(data)) - np.repeat(offsets[:-1], lengths)
    padded[row, col] = data
    for j, word in enumerate(padded.view("<u8").T):
        h += word * weights[j]
    return h


def increasing_range(chunk: pa.Array) -> tuple[str, str] | None:
    """(first, last) when a chunk of non-null ids of one width (8 bytes or more) is strictly
    increasing, else None.

    Ids from a sequence or a time-ordered scheme arrive in increasing order; batches that each
    increase strictly and whose ranges do not overlap hold no duplicate, which saves hashing and
    sorting millions of ids. Bytes compare as big-endian words, the order of UTF-8 strings.
    """
    n = len(chunk)
    if n == 0 or chunk.null_count:
        return None
    offsets, data = _id_bytes(chunk)
    lengths = np.diff(offsets)
    width = int(lengths[0])
    if width < 8 or (lengths != width).any():
        return None
    # From the last word back: a pair increases where its word does, or where the word is equal
    # and the rest of the id increases.
    increasing = None
    # Read as big-endian: numpy compares them as numbers without a byte-swapped copy first.
    for word in reversed(_words(data, n, width, ">u8")):
        after, before = word[1:], word[:-1]
        if increasing is None:
            increasing = after > before
        else:
            increasing = (after > before) | ((after == before) & increasing)
    if not increasing.all():
        return None
    return chunk[0].as_py(), chunk[n - 1].as_py()


def _disjoint(ranges: list[tuple[str, str]]) -> bool:
    return all(a[1] < b[0] for a, b in pairwise(sorted(ranges)))


def duplicated_values(values: pa.ChunkedArray) -> pa.StructArray | None:
    """The values that occur more than once (None if all are unique), nulls left out."""
    values = values.drop_null()
    if _kind(values.type) == "string":
        h = np.concatenate([np.empty(0, np.uint64)] + [id_hashes(c) for c in values.chunks])
        repeated = _repeated(h.copy())
        if len(repeated) == 0:
            return None
        values = values.filter(arrow_mask(np.isin(h, repeated)))
    return _exact_duplicates(values)


def _repeated(hashes: np.ndarray) -> np.ndarray:
    """The hashes that occur more than once; sorts `hashes` in place, to spare a copy."""
    hashes.sort()
    return hashes[1:][hashes[1:] == hashes[:-1]]


def _exact_duplicates(values: pa.ChunkedArray) -> pa.StructArray | None:
    counts = pc.value_counts(values)
    dup = counts.filter(arrow_mask(to_numpy(counts.field("counts")) > 1))
    return dup if len(dup) else None


def report_duplicates(chk, file, column, dup: pa.StructArray | None) -> None:
    if dup is None:
        return
    rows = int(to_numpy(dup.field("counts")).sum())
    examples = [repr(v) for v in dup.field("values")[:EXAMPLES].to_pylist()]
    chk.add(file, column, "must be unique", rows, examples)


def _as_string(arr: pa.Array) -> pa.Array:
    return arr if arr.type == pa.string() else arr.cast(pa.string())


def request_ids(arr) -> pa.Array:
    """A request_id column as plain strings, whatever the file stored."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    return arr


# -- organization ------------------------------------------------------------------------------


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


def timezone_of(root: Path, tz_override: str | None) -> str:
    """The timezone a dataset's ledger is computed in, without reading anything but the JSON."""
    return read_organization(Checker(), root, tz_override)[1]


def valid_timezone(tz) -> bool:
    if not isinstance(tz, str) or not tz:
        return False
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


# -- the requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """What request rows are checked against: user and license ids, in file order (a row's
    position is its code), and each license's user as a user code (-1 if unknown)."""

    users: pa.Array
    licenses: pa.Array
    owner: np.ndarray


def keys_of(users: pa.Table, licenses: pa.Table) -> Keys:
    user_ids = strings(users["user_id"]).combine_chunks()
    license_ids = strings(licenses["license_id"]).combine_chunks()
    return Keys(user_ids, license_ids, codes(strings(licenses["user_id"]), user_ids))


@dataclass(frozen=True)
class Counted:
    """The requests that count (section 2), the ledger's whole input, in file order."""

    ts: np.ndarray  # int64 nanoseconds since the epoch, UTC
    license: np.ndarray  # int32 code into the licenses
    tool: np.ndarray  # int8 `Tool.code`
    credits: np.ndarray  # int64 micro-credits
    request_id: pa.ChunkedArray

    def __len__(self) -> int:
        return len(self.ts)


_USER_EXISTS = ("user_id", "must exist in users.parquet")
_LICENSE_EXISTS = ("license_id", "must exist in licenses.parquet")
_FOREIGN = ("license_id", "must belong to the request's user_id")
_AMOUNT = ("credits", AMOUNT_RULE)
# The row rules of section 1 on requests, in the order they are reported.
_ROW_RULES = [(c, "must not be null") for c in NOT_NULL["requests"]]
_ROW_RULES += [_USER_EXISTS, _LICENSE_EXISTS, _FOREIGN, _AMOUNT]


@dataclass
class _Part:
    """What one batch of requests leaves behind."""

    broken: dict  # (column, rule) -> (rows, examples)
    ts: np.ndarray
    license: np.ndarray
    tool: np.ndarray
    credits: np.ndarray
    ids: pa.Array
    ids_range: tuple[str, str] | None  # (first, last) of strictly increasing ids
    hashes: np.ndarray | None  # of the non-null ids; None when `ids_range` says enough


class _BatchChecker:
    """Checks batches of one row group; keeps the lookups its batches share."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.users = _PerValue(_positions_in(keys.users))
        self.licenses = _PerValue(_positions_in(keys.licenses))
        self.tools = _PerValue(_tool_tables)

    def __call__(self, b: pa.RecordBatch) -> _Part:
        rid = request_ids(b.column("request_id"))
        user_col, lic_col, cred_col = (
            b.column("user_id"),
            b.column("license_id"),
            b.column("credits"),
        )
        (user,), (lic,), credit = self.users(user_col), self.licenses(lic_col), floats(cred_col)
        # Each rule first asks a cheap question of the whole batch; masks only when it fails.
        found = {}
        for col in NOT_NULL["requests"]:
            if b.column(col).null_count:
                found[(col, "must not be null")] = null_mask(b.column(col))
        unknown = user.min(initial=0) < 0 or lic.min(initial=0) < 0
        if unknown:
            found[_USER_EXISTS] = (user < 0) & valid(user_col)
            found[_LICENSE_EXISTS] = (lic < 0) & valid(lic_col)
        foreign = self.keys.owner[lic] != user
        if foreign.any():
            found[_FOREIGN] = foreign & (lic >= 0) & (user >= 0) if unknown else foreign
        if len(credit) and not (credit.min() >= 0 and np.isfinite(credit.sum())):
            found[_AMOUNT] = _bad_amounts(credit, cred_col)
        broken = {}
        for rule in _ROW_RULES:
            bad = int(np.count_nonzero(found[rule])) if rule in found else 0
            if bad:
                at = arrow_indices(np.flatnonzero(found[rule])[:EXAMPLES])
                broken[rule] = (bad, [f"request_id={v!r}" for v in rid.take(at).to_pylist()])
        counted, group = self.tools(b.column("tool"))
        keep = np.flatnonzero((credit > 0) & counted)
        try:
            ts = utc_ns(b.column("ts"))[keep]
        except UNREADABLE as exc:
            broken[(None, f"holds values that cannot be read ({exc})")] = (0, [])
            ts = np.zeros(len(keep), dtype=np.int64)
        with np.errstate(invalid="ignore"):  # a rejected batch, whose ledger never runs
            micro = np.rint(credit[keep] * MICRO).astype(np.int64)
        return _Part(
            broken=broken,
            ts=ts,
            license=lic[keep],
            tool=group[keep],
            credits=micro,
            ids=_as_string(rid.take(arrow_indices(keep))),
            ids_range=(span := increasing_range(rid)),
            hashes=None if span else id_hashes(rid.drop_null() if rid.null_count else rid),
        )


def _tool_tables(dictionary: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Per tool value: does it count, and its `Tool.code` (null: not counted)."""
    values = dictionary.cast(pa.string()).to_pylist()
    counted = np.array([v not in EXCLUDED_TOOLS for v in values] + [False])
    return counted, np.array([Tool.of(v).code for v in values] + [0], dtype=np.int8)


@dataclass(frozen=True)
class _Source:
    """One unit of reading work: a row group of a file, or a whole table already in memory."""

    path: Path | None
    row_group: int = 0
    table: pa.Table | None = None


class RequestScan:
    """The requests being read and checked on background threads."""

    def __init__(self, label: str, sources: list[_Source], keys: Keys) -> None:
        self._sources = sources
        pool = ThreadPoolExecutor(max_workers=WORKERS)
        threads = len(sources) < WORKERS
        self._parts = [pool.submit(_scan, s, keys, threads, label) for s in sources]
        pool.shutdown(wait=False)
        self._dups: Future | None = None

    def counted(self) -> tuple[Counted, list[Issue]]:
        """Wait for the scan; the counted requests, and every broken row rule of requests.

        The uniqueness of request_id, the costliest check, starts here and runs beside whatever
        the caller does next; `duplicates` collects it.
        """
        chk = Checker()
        parts: list[_Part] = []
        for f in self._parts:
            result = f.result()
            if isinstance(result, Issue):
                chk.issues.append(result)
            else:
                parts.extend(result)
        merged: dict = {}
        for p in parts:
            for rule, (rows, examples) in p.broken.items():
                total, first = merged.get(rule, (0, []))
                merged[rule] = (total + rows, (first + examples)[:EXAMPLES])
        for (column, rule), (rows, examples) in merged.items():
            chk.add("requests", column, rule, rows, examples)
        pool = ThreadPoolExecutor(max_workers=1)
        self._dups = pool.submit(self._duplicates, parts)
        pool.shutdown(wait=False)
        parts = parts or [_empty_part()]
        counted = Counted(
            ts=np.concatenate([p.ts for p in parts]),
            license=np.concatenate([p.license for p in parts]),
            tool=np.concatenate([p.tool for p in parts]),
            credits=np.concatenate([p.credits for p in parts]),
            request_id=pa.chunked_array([p.ids for p in parts], pa.string()),
        )
        return counted, chk.issues

    def duplicates(self) -> list[Issue]:
        """Wait for the uniqueness check of request_id (started by `counted`)."""
        chk = Checker()
        report_duplicates(chk, "requests", "request_id", self._dups.result())
        return chk.issues

    def _duplicates(self, parts: list[_Part]) -> pa.StructArray | None:
        ranges = [p.ids_range for p in parts]
        if all(ranges) and _disjoint(ranges):
            return None
        if all(p.hashes is not None for p in parts):
            hashes = np.concatenate([np.empty(0, np.uint64)] + [p.hashes for p in parts])
        else:
            # Increasing batches that overlap, or a mix: every id is hashed after all.
            hashes = np.concatenate([np.empty(0, np.uint64)] + list(self._ids_again(id_hashes)))
        repeated = _repeated(hashes)
        if len(repeated) == 0:
            return None

        def candidates(ids: pa.Array) -> pa.Array:
            return ids.filter(arrow_mask(np.isin(id_hashes(ids), repeated)))

        return _exact_duplicates(pa.chunked_array(self._ids_again(candidates), pa.string()))

    def _ids_again(self, fn) -> Iterator:
        """`fn` of the non-null request ids of each batch, read once more; only a dataset with a
        duplicate, overlapping id ranges or a hash collision gets here."""
        for source in self._sources:
            for b in _batches(source, ["request_id"], use_threads=True):
                yield fn(_as_string(request_ids(b.column("request_id")).drop_null()))


def _empty_part() -> _Part:
    empty = [np.empty(0, t) for t in (np.int64, np.int32, np.int8, np.int64)]
    return _Part({}, *empty, pa.nulls(0, pa.string()), None, np.empty(0, np.uint64))


def _batches(source: _Source, columns: list[str], use_threads: bool) -> Iterator[pa.RecordBatch]:
    if source.table is not None:
        yield from source.table.select(columns).to_batches(max_chunksize=BATCH_ROWS)
        return
    dictionaries = [c for c in columns if c in DICTIONARY_COLUMNS]
    pf = pq.ParquetFile(source.path, read_dictionary=dictionaries)
    yield from pf.iter_batches(
        batch_size=BATCH_ROWS,
        row_groups=[source.row_group],
        columns=columns,
        use_threads=use_threads,
    )


def _scan(source: _Source, keys: Keys, use_threads: bool, label: str) -> list[_Part] | Issue:
    check = _BatchChecker(keys)
    try:
        return [check(b) for b in _batches(source, READ_COLUMNS, use_threads)]
    except Exception as exc:  # noqa: BLE001 - an unreadable file is reported, not raised
        where = source.path.name if source.path is not None else label
        return Issue(label, None, f"could not be read as one table ({where}: {exc})", 0)


def request_sources(chk, root: Path) -> tuple[str, list[_Source]] | None:
    """The label and the units of reading work of the requests, their schema checked."""
    file, folder = root / "requests.parquet", root / "requests"
    if file.is_file() and folder.is_dir():
        chk.add("requests", None, "give either requests.parquet or requests/, not both")
        return None
    if not file.is_file() and not folder.is_dir():
        chk.add("requests.parquet", None, "required file is missing (or a requests/ directory)")
        return None
    if file.is_file():
        label, paths = "requests.parquet", [file]
    else:
        label, paths = "requests/", _request_dir_files(folder)
        keys = {part.split("=", 1)[0] for p in paths for part in p.relative_to(folder).parts[:-1]}
        if keys & set(REQUEST_COLUMNS):
            return _partitioned_on_a_column(chk, folder)
    sources, schema = [], pa.schema([])
    for path in paths:
        try:
            pf = pq.ParquetFile(path)
            schema = pf.schema_arrow
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
            where = path.relative_to(root).as_posix()
            chk.add(label, None, f"is not a readable Parquet dataset ({where}: {exc})")
            return None
        if not check_schema(chk, "requests", schema, REQUEST_COLUMNS):
            return None
        sources += [_Source(path, g) for g in range(pf.metadata.num_row_groups)]
    if not paths and not check_schema(chk, "requests", schema, REQUEST_COLUMNS):
        return None
    return label, sources


def _partitioned_on_a_column(chk, folder: Path) -> tuple[str, list[_Source]] | None:
    """A directory partitioned on a request column (say tool=chat/) holds that column in its
    paths; Arrow's dataset reader puts it back, at the cost of reading everything at once."""
    try:
        schema = pq.ParquetDataset(folder, partitioning="hive").schema
        if not check_schema(chk, "requests", schema, REQUEST_COLUMNS):
            return None
        table = pq.read_table(
            folder, columns=READ_COLUMNS, read_dictionary=DICTIONARY_COLUMNS, partitioning="hive"
        )
    except Exception as exc:  # noqa: BLE001 - any unreadable dataset is reported, not raised
        chk.add("requests/", None, f"is not a readable Parquet dataset ({exc})")
        return None
    return "requests/", [_Source(None, table=table)]


@dataclass
class Reading:
    """A dataset directory being read: the small tables at once, the requests on threads.

    `checker` holds what is wrong so far; `requests` is None when the requests are not read
    (`with_requests` false) or cannot be checked (a file is missing or unreadable, which is in
    `checker`).
    """

    with_requests: bool
    name: str
    timezone: str
    checker: Checker
    users: pa.Table | None
    licenses: pa.Table | None
    topups: pa.Table | None
    requests: RequestScan | None


def begin(root: Path, timezone: str | None, with_requests: bool = True) -> Reading:
    chk = Checker()
    name, tz = read_organization(chk, root, timezone)
    tables = {}
    for fname, columns, optional in (
        ("users.parquet", USER_COLUMNS, None),
        ("licenses.parquet", LICENSE_COLUMNS, OPTIONAL_LICENSE_COLUMNS),
        ("topup_limits.parquet", TOPUP_COLUMNS, None),
    ):
        if (root / fname).is_file():
            tables[fname] = read_table(chk, root, fname, columns, optional)
        elif fname != "topup_limits.parquet":
            chk.add(fname, None, "required file is missing")
    users, licenses = tables.get("users.parquet"), tables.get("licenses.parquet")
    scan = None
    if with_requests:
        found = request_sources(chk, root)
        if found is not None and users is not None and licenses is not None:
            scan = RequestScan(*found, keys_of(users, licenses))
    elif not (root / "requests.parquet").is_file() and not (root / "requests").is_dir():
        chk.add("requests.parquet", None, "required file is missing (or a requests/ directory)")
    topups = tables.get("topup_limits.parquet")
    return Reading(with_requests, name, tz, chk, users, licenses, topups, scan)
