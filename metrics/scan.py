"""The partition function: one unit of requests read, checked against every row rule, and its
counted rows split into partitions by their license's owner.

`scan_unit` is what a reading thread or a Dask worker runs. A license's requests all land in the
partition of its user, so each partition's quota ledger runs on its own and distinct-user counts
of different partitions simply add up. Request ids are kept apart for the uniqueness check: a
batch whose ids strictly increase is summed up by its first and last id; any other batch is
hashed, and its hashes are split into partitions of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from metrics import read
from metrics.model import EXCLUDED_TOOLS, MICRO, Tool
from metrics.rules import (
    BELONGS,
    REQUEST_READ,
    YEARS,
    Checker,
    check_table,
    nulls,
    numbers,
    text,
)

ROWS_SCHEMA = pa.schema(
    [
        ("ts", pa.int64()),
        ("license", pa.int32()),
        ("tool", pa.int8()),
        ("credits", pa.int64()),
        ("request_id", pa.large_string()),
    ]
)
HASH_SCHEMA = pa.schema([("hash", pa.uint64())])


@dataclass(frozen=True)
class Keys:
    """What request rows are checked against and routed by; sent once to every worker."""

    users: pa.Array  # user_id by user code
    licenses: pa.Array  # license_id by license code
    owner: np.ndarray  # user code by license code, -1 when unknown
    part: np.ndarray  # ledger partition by user code
    id_parts: int
    unit: str  # the time unit of every instant
    timezone: str


@dataclass
class Scanned:
    """What a unit leaves besides its rows: broken rules, counted micro-credits, and the id
    ranges of its increasing batches (`hashed` tells whether any batch had to be hashed)."""

    checker: Checker = field(default_factory=Checker)
    micro: int = 0
    ranges: list = field(default_factory=list)
    hashed: bool = False
    pieces: dict = field(default_factory=dict)  # key -> [RecordBatch], when no sink is given

    def __sizeof__(self) -> int:
        """What a Dask worker's memory manager counts for a unit's result: its pieces."""
        held = sum(b.nbytes for batches in self.pieces.values() for b in batches)
        return object.__sizeof__(self) + held

    def __reduce__(self):
        """Dask pickles a result it spills to disk or moves. Pickle would write the whole batch
        a piece was sliced from, once per piece; an Arrow IPC stream writes the piece's rows."""
        pieces = {key: _stream(batches) for key, batches in self.pieces.items()}
        return _unpickle, (self.checker, self.micro, self.ranges, self.hashed, pieces)

    def summary(self) -> Scanned:
        return Scanned(self.checker, self.micro, self.ranges, self.hashed)

    def sink(self, given: Sink | None) -> Sink:
        return given or (lambda key, batch: self.pieces.setdefault(key, []).append(batch))


Sink = Callable[[tuple, pa.RecordBatch], None]


def _stream(batches: list[pa.RecordBatch]) -> pa.Buffer:
    out = pa.BufferOutputStream()
    with pa.ipc.new_stream(out, batches[0].schema) as writer:
        for b in batches:
            writer.write_batch(b)
    return out.getvalue()


def _unpickle(checker, micro, ranges, hashed, pieces) -> Scanned:
    batches = {key: list(pa.ipc.open_stream(buffer)) for key, buffer in pieces.items()}
    return Scanned(checker, micro, ranges, hashed, batches)


def scan_unit(
    unit: read.Unit, keys: Keys, sink: Sink | None = None, batches=read.batches
) -> Scanned:
    out = Scanned()
    put = out.sink(sink)
    codes = _Codes(keys)
    try:
        for b in batches(unit):
            _batch(b, keys, codes, out, put)
    except Exception as exc:  # noqa: BLE001 - a file that breaks mid-way is a message
        out.checker.add(unit.label, None, f"could not be read ({read.short(exc)})")
    return out


def _batch(b: pa.RecordBatch, keys: Keys, codes: _Codes, out: Scanned, put: Sink) -> None:
    chk, f = out.checker, "requests"
    rid, ts_col, user_col, lic_col, tool_col, _ = (b.column(c) for c in REQUEST_READ)
    if pa.types.is_dictionary(rid.type):
        rid = rid.dictionary_decode()

    def labels(idx):
        return [f"request_id={v!r}" for v in text(rid.take(idx))]

    credit, bad_credit = check_table(chk, f, b, labels, unique=False)["credits"]
    lic = codes.licenses(lic_col)
    known = lic >= 0
    chk.missing(f, "license_id", ~known & ~nulls(lic_col), labels)
    owner = np.where(known, keys.owner[np.maximum(lic, 0)] if len(keys.owner) else -1, -1)
    user = codes.users(user_col, owner)
    chk.missing(f, "user_id", (user < 0) & ~nulls(user_col), labels)
    chk.rows(f, "license_id", BELONGS, known & (user >= 0) & (owner != user), labels)
    counted, tool = codes.tools(tool_col)
    spends = counted & (credit > 0) & ~bad_credit
    ts, outside = read.instants(ts_col, keys.unit)
    # A counted request's local day must be a date; one that counts for nothing may lie anywhere.
    outside |= read.off_calendar(ts, keys.unit, keys.timezone, spends & ~outside)
    chk.rows(f, "ts", YEARS, outside, labels)
    keep = np.flatnonzero(spends & known & ~outside)
    micro = np.rint(credit[keep] * MICRO).astype(np.int64)
    out.micro += exact_sum(micro)
    part = keys.part[owner[keep]]
    by_part = np.argsort(part, kind="stable")
    at = keep[by_part]
    ids = rid.take(at).cast(pa.large_string())
    rows = pa.record_batch([ts[at], lic[at], tool[at], micro[by_part], ids], schema=ROWS_SCHEMA)
    bounds = np.searchsorted(part[by_part], np.arange(keys.part.max(initial=0) + 2))
    for p in np.flatnonzero(np.diff(bounds)):
        put(("rows", int(p)), rows.slice(bounds[p], bounds[p + 1] - bounds[p]))
    _ids(plain_ids(rid), keys, out, put)


def hash_unit(unit: read.Unit, keys: Keys, sink: Sink | None = None) -> Scanned:
    """Every request id of the unit hashed into its partition, when ranges did not settle it."""
    out = Scanned()
    put = out.sink(sink)
    for b in read.batches(unit, ("request_id",)):
        route_hashes(id_hashes(plain_ids(b.column(0))), keys.id_parts, put)
    return out


def plain_ids(ids: pa.Array) -> pa.Array:
    return (ids.dictionary_decode() if pa.types.is_dictionary(ids.type) else ids).drop_null()


def _ids(ids: pa.Array, keys: Keys, out: Scanned, put: Sink) -> None:
    if not len(ids):
        return
    if not pa.types.is_string(ids.type) and not pa.types.is_large_string(ids.type):
        ids = ids.cast(pa.large_string())
    span = increasing(ids)
    if span is not None:
        out.ranges.append(span)
        return
    out.hashed = True
    route_hashes(id_hashes(ids), keys.id_parts, put)


def increasing(ids: pa.Array) -> tuple[bytes, bytes] | None:
    """(first, last) of non-null ids that strictly increase, as bytes (the order of UTF-8 is
    the order of code points), else None. Sequence and time-ordered ids arrive so: batches that
    increase and do not overlap hold no duplicate, with no hashing at all."""
    n = len(ids)
    if n == 1 or pc.all(pc.greater(ids.slice(1), ids.slice(0, n - 1))).as_py():
        raw = pc.cast(ids, pa.large_binary())
        return raw[0].as_py(), raw[n - 1].as_py()
    return None


def route_hashes(h: np.ndarray, parts: int, put: Sink) -> None:
    part = h % np.uint64(parts)
    for p in np.unique(part):
        put(("ids", int(p)), pa.record_batch([h[part == p]], schema=HASH_SCHEMA))


def id_hashes(ids: pa.Array) -> np.ndarray:
    """64-bit hashes of the ids' bytes, the same in every process (pandas' keyed SipHash)."""
    import pandas as pd

    return pd.util.hash_array(pc.cast(ids, pa.large_binary()).to_numpy(zero_copy_only=False))


def exact_sum(micro: np.ndarray) -> int:
    """The sum as a Python int: an int64 sum of 65,536 values up to 10^15 could overflow."""
    return (int(np.sum(micro >> 20)) << 20) + int(np.sum(micro & 0xFFFFF))


class _Codes:
    """Per-row codes of the string columns, computed once per distinct value: the batches of
    one row group share their dictionaries."""

    def __init__(self, keys: Keys) -> None:
        self.licenses = _PerValue(lambda d: (read.codes(d, keys.licenses),))
        self.users = _Users(keys.users)
        self.tools = _PerValue(_tool_codes)


def _tool_codes(dictionary: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    values = text(dictionary)
    counted = np.array([v not in EXCLUDED_TOOLS for v in values])
    return counted, np.array([Tool.of(v).code for v in values], dtype=np.int8)


def _encoded(values: pa.Array) -> pa.DictionaryArray:
    if pa.types.is_null(values.type):
        values = values.cast(pa.string())
    return values if pa.types.is_dictionary(values.type) else pc.dictionary_encode(values)


class _PerValue:
    def __init__(self, compute) -> None:
        self._compute = compute
        self._dictionary: pa.Array | None = None
        self._tables: tuple = ()

    def __call__(self, values: pa.Array):
        values = _encoded(values)
        if self._dictionary is None or not self._dictionary.equals(values.dictionary):
            self._dictionary = values.dictionary
            # A last entry for nulls, which index -1 picks.
            self._tables = tuple(
                np.append(t, t.dtype.type(-1 if t.dtype != bool else 0))
                for t in self._compute(values.dictionary)
            )
        rows = numbers(values.indices, -1)
        picked = tuple(t[rows] for t in self._tables)
        return picked[0] if len(picked) == 1 else picked


class _Users:
    """Each row's user code, as `read.codes` gives it. Except in a broken row, a request's user
    is its license's owner, so a dictionary entry is first compared with the owner of a row
    naming it, and only entries that differ are looked up among all users: a lookup hashes every
    user id, once per row group, which at 100,000 users cost a quarter of the scan. `owner`
    comes from `read.codes` too, so with repeated user ids both name the first."""

    UNKNOWN = -2

    def __init__(self, users: pa.Array) -> None:
        self.users = users
        self.dictionary: pa.Array | None = None

    def __call__(self, values: pa.Array, owner: np.ndarray) -> np.ndarray:
        values = _encoded(values)
        if self.dictionary is None or not self.dictionary.equals(values.dictionary):
            self.dictionary = values.dictionary
            self.codes = np.full(len(values.dictionary) + 1, self.UNKNOWN, np.int32)
            self.codes[-1] = -1  # nulls, which index -1 picks
        rows = numbers(values.indices, -1)
        hint = np.full(len(self.codes), self.UNKNOWN, np.int32)
        hint[rows] = owner
        new = np.flatnonzero((self.codes == self.UNKNOWN) & (hint != self.UNKNOWN))
        guess, named = hint[new], self.dictionary.take(new)
        same = guess >= 0
        if same.any():
            owners = self.users.take(guess[same]).cast(named.type)
            same[same] = pc.equal(named.filter(same), owners).fill_null(False).to_numpy(False)
        self.codes[new[same]] = guess[same]
        if not same.all():
            self.codes[new[~same]] = read.codes(named.filter(~same), self.users)
        return self.codes[rows]
