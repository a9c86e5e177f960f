"""The rules of the dataset format, declared once, and the checks that read them.

Every file's columns are a tuple of `Column`s; `check_schema` and `check_table` judge any Arrow
table by them, and the request scan (`metrics.scan`) applies the same declarations to each batch.
A `Checker` collects what is broken, so one run names every problem with its file, column,
rule, row count and the first few rows in file order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from metrics.model import MICRO, Issue

STRING, TIMESTAMP, NUMBER = "string", "timestamp", "number"
MAX_CREDITS = 1_000_000_000
MAX_TOTAL_MICRO = 9_000_000_000_000 * MICRO
EXAMPLES = 5
EXAMPLE_CHARS = 60

NOT_NULL = "must not be null"
UNIQUE = "must be unique"
AMOUNT = f"must be a finite number >= 0 and at most {MAX_CREDITS:,}"
UTF8 = "must be valid UTF-8 text"
YEARS = "must lie between the years 1 and 9999 (in UTC and in the organization's timezone)"
TOTAL = f"counted credits of the whole dataset must add up to at most {MAX_TOTAL_MICRO // MICRO:,}"
BELONGS = "must belong to the request's user_id"
_KIND_RULE = {
    STRING: "must be a string column",
    TIMESTAMP: "must be a timestamp column",
    NUMBER: "must be a numeric (float64) column",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    nullable: bool = False
    optional: bool = False  # the column itself may be absent
    unique: bool = False
    refers: str | None = None  # the file whose key this column must name

    @property
    def amount(self) -> bool:
        return self.kind == NUMBER


SCHEMAS: dict[str, tuple[Column, ...]] = {
    "users.parquet": (
        Column("user_id", STRING, unique=True),
        Column("name", STRING, nullable=True),
        Column("email", STRING, nullable=True),
        Column("team", STRING, nullable=True),
    ),
    "licenses.parquet": (
        Column("license_id", STRING, unique=True),
        Column("user_id", STRING, refers="users.parquet"),
        Column("plan", STRING),
        Column("monthly_quota", NUMBER),
        Column("valid_from", TIMESTAMP),
        Column("valid_until", TIMESTAMP, nullable=True),
        Column("cycle_anchor", TIMESTAMP, nullable=True, optional=True),
    ),
    "topup_limits.parquet": (
        Column("user_id", STRING, nullable=True),
        Column("effective_from", TIMESTAMP),
        Column("monthly_limit", NUMBER),
    ),
    "requests": (
        Column("request_id", STRING, unique=True),
        Column("ts", TIMESTAMP),
        Column("user_id", STRING, refers="users.parquet"),
        Column("license_id", STRING, refers="licenses.parquet"),
        Column("tool", STRING),
        Column("mode", STRING, nullable=True),
        Column("credits", NUMBER),
    ),
}
# Of requests, only what a rule or the ledger uses is read; `mode` has no rule beyond its type.
REQUEST_READ = ("request_id", "ts", "user_id", "license_id", "tool", "credits")


@dataclass
class Checker:
    """Broken rules so far, mergeable so that parts checked apart (threads, Dask workers) add up
    in file order."""

    found: dict = field(default_factory=dict)  # (file, column, rule) -> [rows, examples]

    def add(self, file, column, rule, rows=0, examples=()) -> None:
        entry = self.found.setdefault((file, column, rule), [0, []])
        entry[0] += int(rows)
        entry[1] = (entry[1] + list(examples))[:EXAMPLES]

    def rows(self, file, column, rule, mask: np.ndarray, labels) -> None:
        """Records the rows where `mask` holds; `labels(indices)` names a few of them."""
        bad = int(np.count_nonzero(mask))
        if bad:
            self.add(file, column, rule, bad, labels(np.flatnonzero(mask)[:EXAMPLES]))

    def missing(self, file, column, mask: np.ndarray, labels) -> None:
        """Records the rows of a column that name no row of the file its declaration refers to."""
        (col,) = (c for c in SCHEMAS[file] if c.name == column and c.refers)
        self.rows(file, column, f"must exist in {col.refers}", mask, labels)

    def merge(self, other: Checker) -> None:
        for key, (rows, examples) in other.found.items():
            self.add(*key, rows, examples)

    @property
    def issues(self) -> list[Issue]:
        return [Issue(*key, rows, tuple(ex)) for key, (rows, ex) in self.found.items()]


def kind_of(t: pa.DataType) -> str | None:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return STRING
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return TIMESTAMP
    if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        return NUMBER
    return "null" if pa.types.is_null(t) else None


def check_schema(chk: Checker, file: str, schema: pa.Schema, label: str | None = None) -> bool:
    """Every declared column is present (unless optional) and of its kind; an all-null column
    of Arrow's null type stands for a nullable column of any kind."""
    ok = True
    for col in SCHEMAS[file]:
        if len(schema.get_all_field_indices(col.name)) > 1:
            chk.add(label or file, col.name, "must appear only once (the file has it twice)")
            ok = False
            continue
        if col.name not in schema.names:
            if not col.optional:
                chk.add(label or file, col.name, "required column is missing")
                ok = False
            continue
        found = schema.field(col.name).type
        kind = kind_of(found)
        if kind != col.kind and not (kind == "null" and col.nullable):
            chk.add(label or file, col.name, f"{_KIND_RULE[col.kind]} (found {found})")
            ok = False
    return ok


def text(values) -> list[str]:
    """Values as short printable text, whatever bytes a file holds: examples never raise."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if kind_of(values.type) == STRING:
        raw = pc.cast(values, pa.large_binary()).to_pylist()
        out = [None if v is None else v.decode("utf-8", "replace") for v in raw]
    else:
        out = values.to_pylist()
    return [
        v if not isinstance(v, str) or len(v) <= EXAMPLE_CHARS else v[:EXAMPLE_CHARS] + "…"
        for v in out
    ]


def invalid_utf8(values) -> np.ndarray | None:
    """Rows whose bytes are not UTF-8; None when all are (the common case, checked in C)."""
    if pa.types.is_dictionary(values.type):
        bad = invalid_utf8(values.dictionary)
        return None if bad is None else np.append(bad, False)[_indices(values)]
    try:
        values.validate(full=True)
        return None
    except pa.ArrowInvalid:
        raw = pc.cast(values, pa.large_binary()).to_pylist()
        return np.array([v is not None and not _decodes(v) for v in raw], dtype=bool)


def _decodes(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _indices(values: pa.DictionaryArray) -> np.ndarray:
    return numbers(values.indices, -1)


def numbers(values, fill) -> np.ndarray:
    """A numeric Arrow array as numpy with nulls as `fill`; no copy when there are none."""
    return (values.fill_null(fill) if values.null_count else values).to_numpy()


def floats(values) -> np.ndarray:
    """A numeric column as float64, nulls as NaN (they have their own rule)."""
    return numbers(pc.cast(values, pa.float64(), safe=False), np.nan)


def bad_amounts(values: np.ndarray, nulls: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return ~nulls & ~(np.isfinite(values) & (values >= 0) & (values <= MAX_CREDITS))


def nulls(values) -> np.ndarray:
    if not values.null_count:
        return np.zeros(len(values), dtype=bool)
    return values.is_null().to_numpy(zero_copy_only=False)


def check_table(chk: Checker, file: str, table, labels, unique: bool = True) -> dict:
    """The row rules that need nothing but the table (or batch) itself: not null, UTF-8,
    amounts, unique. Rules naming another file are checked where that file's keys are at hand;
    the requests' ids are unique across batches, which `scan` sees to. Returns each amount
    column as (floats, broken), so that a caller using the amounts converts them once."""
    amounts = {}
    for col in SCHEMAS[file]:
        if col.name not in table.column_names:
            continue
        values = table[col.name]
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        missing = nulls(values)
        if not col.nullable:
            chk.rows(file, col.name, NOT_NULL, missing, labels)
        if col.kind == STRING and (bad := invalid_utf8(values)) is not None:
            chk.rows(file, col.name, UTF8, bad, labels)
        elif col.amount:
            amounts[col.name] = (v := floats(values), bad := bad_amounts(v, missing))
            chk.rows(file, col.name, AMOUNT, bad, labels)
        if col.unique and unique:
            report_duplicates(chk, file, col.name, values)
    return amounts


def report_duplicates(chk: Checker, file: str, column: str, values) -> None:
    counts = pc.value_counts(values.drop_null())
    dup = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(dup):
        rows = pc.sum(dup.field("counts")).as_py()
        chk.add(file, column, UNIQUE, rows, [repr(v) for v in text(dup.field("values"))])
