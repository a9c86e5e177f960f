"""Small hand-made datasets written as real Parquet files, for contract tests."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fixtures.requests import REQUEST_SCHEMA

USER_SCHEMA = pa.schema(
    [("user_id", pa.string()), ("name", pa.string()), ("email", pa.string()), ("team", pa.string())]
)
LICENSE_SCHEMA = pa.schema(
    [
        ("license_id", pa.string()),
        ("user_id", pa.string()),
        ("plan", pa.string()),
        ("monthly_quota", pa.float64()),
        ("valid_from", pa.timestamp("us", tz="UTC")),
        ("valid_until", pa.timestamp("us", tz="UTC")),
        ("cycle_anchor", pa.timestamp("us", tz="UTC")),
    ]
)
TOPUP_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("effective_from", pa.timestamp("us", tz="UTC")),
        ("monthly_limit", pa.float64()),
    ]
)


def _ts(v):
    if v is None:
        return None
    t = pd.Timestamp(v)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _table(rows: list[dict], schema: pa.Schema, ts_cols=()) -> pa.Table:
    cols = {}
    for field in schema:
        values = [r.get(field.name) for r in rows]
        if field.name in ts_cols:
            values = [_ts(v) for v in values]
        cols[field.name] = pa.array(values, type=field.type)
    return pa.table(cols, schema=schema)


def user(uid, team="Platform", name=None):
    return {
        "user_id": uid,
        "name": name or f"User {uid}",
        "email": f"{uid}@example.com",
        "team": team,
    }


def license_(lid, uid, quota=10.0, plan="AI Pro", valid_from="2020-01-01", anchor=None, until=None):
    return {
        "license_id": lid,
        "user_id": uid,
        "plan": plan,
        "monthly_quota": quota,
        "valid_from": valid_from,
        "valid_until": until,
        "cycle_anchor": anchor,
    }


def topup(uid, effective_from, limit):
    return {"user_id": uid, "effective_from": effective_from, "monthly_limit": limit}


def request(rid, ts, uid, lid, credits, tool="junie", mode=None):
    return {
        "request_id": rid,
        "ts": ts,
        "user_id": uid,
        "license_id": lid,
        "tool": tool,
        "mode": mode,
        "credits": credits,
    }


def write_dataset(
    root: Path,
    users: list[dict],
    licenses: list[dict],
    requests: list[dict],
    topups: list[dict] | None = None,
    timezone: str | None = "UTC",
    partitioned: bool = False,
) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if timezone is not None:
        (root / "organization.json").write_text(
            json.dumps({"name": "Test org", "timezone": timezone})
        )
    pq.write_table(_table(users, USER_SCHEMA), root / "users.parquet")
    pq.write_table(
        _table(licenses, LICENSE_SCHEMA, ("valid_from", "valid_until", "cycle_anchor")),
        root / "licenses.parquet",
    )
    if topups is not None:
        pq.write_table(
            _table(topups, TOPUP_SCHEMA, ("effective_from",)), root / "topup_limits.parquet"
        )
    table = _table(requests, REQUEST_SCHEMA, ("ts",))
    if partitioned:
        month = pa.array([_ts(r["ts"]).strftime("%Y-%m") for r in requests], pa.string())
        pq.write_to_dataset(
            table.append_column("month", month), root / "requests", partition_cols=["month"]
        )
    else:
        pq.write_table(table, root / "requests.parquet")
    return root


def worked_example(root: Path, partitioned: bool = False) -> Path:
    """Section 7 of the contract."""
    return write_dataset(
        root,
        users=[user("u1")],
        licenses=[license_("l1", "u1", 10.0)],
        topups=[topup(None, "2026-01-01", 5.0)],
        requests=[
            request("r1", "2026-01-05 09:00", "u1", "l1", 6),
            request("r2", "2026-01-20 10:00", "u1", "l1", 6),
            request("r3", "2026-01-21 12:00", "u1", "l1", 2, tool="code_completion"),
            request("r4", "2026-01-25 11:00", "u1", "l1", 3),
            request("r5", "2026-02-02 08:00", "u1", "l1", 3),
        ],
        partitioned=partitioned,
    )


# -- helpers for hard inputs: columns rewritten in place, bytes that are not UTF-8, damage ------


def unchecked_strings(values: list, type_: pa.DataType | None = None) -> pa.Array:
    """A string column holding exactly these bytes (str values are UTF-8 encoded), valid UTF-8
    or not: the bytes are written as a binary array whose buffers are then read as strings,
    which Arrow and Parquet store without checking."""
    type_ = type_ or pa.string()
    raw = [v.encode() if isinstance(v, str) else v for v in values]
    binary = pa.large_binary() if type_ == pa.large_string() else pa.binary()
    arr = pa.array(raw, binary)
    return pa.Array.from_buffers(type_, len(arr), arr.buffers(), arr.null_count)


def rewrite_column(path: Path, column: str, values: pa.Array | pa.ChunkedArray) -> None:
    """Replaces (or appends) one column of a Parquet file, keeping the others as they are."""
    t = pq.read_table(path)
    if column in t.column_names:
        t = t.set_column(t.column_names.index(column), column, values)
    else:
        t = t.append_column(column, values)
    pq.write_table(t, path)


def cast_columns(path: Path, types: dict) -> None:
    """Casts columns of a Parquet file to other Arrow types (`{column: type}`)."""
    t = pq.read_table(path)
    for column, type_ in types.items():
        t = t.set_column(t.column_names.index(column), column, t[column].cast(type_))
    pq.write_table(t, path)


def overwrite_middle(path: Path, count: int = 64, byte: int = 0xFF) -> None:
    """Overwrites `count` bytes in the middle of a file: its data pages, not its footer."""
    data = bytearray(Path(path).read_bytes())
    at = len(data) // 2
    data[at : at + count] = bytes([byte]) * len(data[at : at + count])
    Path(path).write_bytes(bytes(data))


def truncate(path: Path, keep: int) -> None:
    """Cuts a file to its first `keep` bytes (negative: all but the last -keep)."""
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:keep] if keep >= 0 else data[: len(data) + keep])


def overwrite_data_page(path: Path, column: str, count: int = 16, byte: int = 0xFF) -> None:
    """Overwrites the first `count` bytes of the first data page of `column`: the footer stays
    whole, so the file opens and breaks only when that page is read."""
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    at = meta.row_group(0).column(names.index(column)).data_page_offset
    data = bytearray(Path(path).read_bytes())
    data[at : at + count] = bytes([byte]) * count
    Path(path).write_bytes(bytes(data))
