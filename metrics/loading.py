"""The validated tables of a dataset, as Arrow and numpy columns for the ledger and the reports.

`reading` reads the files and checks the requests on background threads; this module checks the
small tables meanwhile. Validation collects every broken rule before failing, so one run tells
the admin all that is wrong with their export, and nothing is half-loaded: either `load` returns
complete tables or it raises `DatasetError`. No pandas here, as in the rest of a report's path;
`Dataset` builds the app's frames from these tables when they are asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa

from metrics.model import DatasetError, Issue
from metrics.reading import (
    NAT,
    UNREADABLE,
    Checker,
    Counted,
    Reading,
    amounts,
    begin,
    check_not_null,
    codes,
    duplicated_values,
    null_mask,
    report_duplicates,
    strings,
    utc_ns,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Licenses:
    """licenses.parquet; a license's position is its code. Times are UTC nanoseconds."""

    ids: pa.ChunkedArray  # license_id
    user: np.ndarray  # int32 code of the owner in users
    plan: pa.ChunkedArray
    quota: np.ndarray  # monthly_quota in credits
    valid_from: np.ndarray
    valid_until: np.ndarray  # NAT: open-ended
    cycle_anchor: np.ndarray  # NAT: calendar months

    def __len__(self) -> int:
        return len(self.user)


@dataclass(frozen=True)
class Topups:
    """topup_limits.parquet, without the rows of users absent from users.parquet."""

    user: np.ndarray  # int32 user code; -1 for the organization's defaults
    effective_from: np.ndarray  # UTC nanoseconds
    monthly_limit: np.ndarray  # credits


NO_TOPUPS = Topups(np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.float64))


@dataclass(frozen=True)
class Tables:
    name: str
    timezone: str
    users: pa.Table  # user_id, name, email, team as strings; a user's row is its code
    licenses: Licenses
    topups: Topups
    requests: Counted | None  # the counted requests only


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
    return _finish(root, begin(root, timezone, with_requests), then)


def _finish(root: Path, r: Reading, then: Callable[[Tables], T] | None = None):
    """Validate what `reading.begin` started on `root` into tables (and `then(tables)`)."""
    if not root.is_dir():
        raise DatasetError(str(root), [Issue(str(root), None, "is not a directory", 0)])
    chk = r.checker
    users = licenses = topups = None
    if r.users is not None:
        users = _guarded(chk, "users.parquet", _validate_users, chk, r.users)
    if users is not None:
        user_ids = strings(r.users["user_id"]).combine_chunks()
        if r.licenses is not None:
            lic = r.licenses
            licenses = _guarded(chk, "licenses.parquet", _validate_licenses, chk, lic, user_ids)
        topups = _guarded(chk, "topup_limits.parquet", _validate_topups, chk, r.topups, user_ids)
    tables, extra = None, None
    if r.requests is not None:
        counted, issues = r.requests.counted()
        # Request rows are judged against users and licenses that could be read.
        if users is not None and licenses is not None:
            chk.issues += issues
            if not chk.issues:
                tables = Tables(r.name, r.timezone, users, licenses, topups, counted)
                extra = then(tables) if then is not None else None
            chk.issues += r.requests.duplicates()
    if chk.issues or (r.with_requests and tables is None):
        raise DatasetError(str(root), chk.issues)
    return tables or Tables(r.name, r.timezone, users, licenses, topups, None), extra


def _guarded(chk, file, fn, *args):
    """Values Arrow cannot convert (a timestamp beyond the year 2262, a decimal too wide for a
    float) are reported against their file like any broken rule, never raised."""
    try:
        return fn(*args)
    except UNREADABLE as exc:
        chk.add(file, None, f"holds values that cannot be read ({exc})")
        return None


def _duplicates(chk: Checker, file: str, column: str, values: pa.ChunkedArray) -> None:
    report_duplicates(chk, file, column, duplicated_values(values))


def _validate_users(chk, t: pa.Table) -> pa.Table:
    f = "users.parquet"
    ids = strings(t["user_id"])
    check_not_null(chk, f, t, lambda i: [f"row {j}" for j in i])
    _duplicates(chk, f, "user_id", ids)
    return pa.table({c: strings(t[c]) for c in ("user_id", "name", "email", "team")})


def _validate_licenses(chk, t: pa.Table, user_ids: pa.Array) -> Licenses:
    f = "licenses.parquet"
    ids = strings(t["license_id"])

    def labels(idx):
        return [f"license_id={ids[int(j)].as_py()!r}" for j in idx]

    check_not_null(chk, f, t, labels)
    _duplicates(chk, f, "license_id", ids)
    owner = codes(strings(t["user_id"]), user_ids)
    present = ~null_mask(t["user_id"])
    chk.rows(f, "user_id", "must exist in users.parquet", present & (owner < 0), labels)
    quota = amounts(chk, f, "monthly_quota", t["monthly_quota"], labels)
    has_anchor = "cycle_anchor" in t.column_names
    return Licenses(
        ids=ids,
        user=owner,
        plan=strings(t["plan"]),
        quota=quota,
        valid_from=utc_ns(t["valid_from"]),
        valid_until=utc_ns(t["valid_until"]),
        cycle_anchor=utc_ns(t["cycle_anchor"]) if has_anchor else np.full(len(t), NAT),
    )


def _validate_topups(chk, t: pa.Table | None, user_ids: pa.Array) -> Topups:
    if t is None:
        return NO_TOPUPS
    f = "topup_limits.parquet"

    def labels(idx):
        return [f"row {j}" for j in idx]

    check_not_null(chk, f, t, labels)
    limit = amounts(chk, f, "monthly_limit", t["monthly_limit"], labels)
    who = codes(strings(t["user_id"]), user_ids)
    is_default = null_mask(t["user_id"])
    # Rows of users absent from users.parquet can never apply; the contract sets no rule on them.
    keep = is_default | (who >= 0)
    return Topups(
        user=np.where(is_default, -1, who)[keep].astype(np.int32),
        effective_from=utc_ns(t["effective_from"])[keep],
        monthly_limit=limit[keep],
    )
