"""What the fuzz suites share: the command line run as a user runs it, the invariants every run
must keep, a dataset model with its own loop-based validator (the rules of sections 1 and 8 of
the contract), a writer that stores a model in the many ways the data format allows, and
hypothesis strategies that build models and break them.

Used by tests/test_fuzz.py, tests/test_hard_inputs.py and tests/benchmarks/fuzz_long.py.

The model keeps every value as the engine must understand it: strings as `str` (or `bytes`
where a test puts bytes that are not UTF-8), amounts as floats, instants as integer
microseconds since 1970-01-01 UTC (so the years 1 to 9999 and beyond are all representable).
The expected answer of a valid model is the loop reference (`tests/reference.py`) run on a
plain copy of it, written with the canonical types; the expected rejection of a broken one is
`expected_issues`, a second, independent reading of the rules.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import strategies as st

from tests import reference
from tests.datasets import request, topup

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 180

# -- the command line ------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One finished `python -m metrics ...`: what a user sees of it."""

    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    max_rss_kb: int
    seconds: float


def run_subprocess(argv, env: dict | None = None, timeout: float = TIMEOUT) -> Run:
    """`python -m metrics ARGV` in a new interpreter, from the repository (as CI runs it), its
    peak memory taken from `wait4` of exactly this child."""
    argv = tuple(str(a) for a in argv)
    with tempfile.TemporaryDirectory(prefix="fuzz-run-") as tmp:
        out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
        with out.open("wb") as o, err.open("wb") as e:
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "metrics", *argv],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=o,
                stderr=e,
                env=None if env is None else {**os.environ, **env},
            )
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
            seconds = time.perf_counter() - started
        return Run(
            argv,
            proc.returncode,
            out.read_bytes().decode("utf-8", "backslashreplace"),
            err.read_bytes().decode("utf-8", "backslashreplace"),
            usage.ru_maxrss,
            seconds,
        )


# The fork server: one interpreter imports what `python -m metrics` imports, then forks a child
# per run. The child is a new process with its own stdin, stdout, stderr, exit status and memory,
# and runs `metrics/__main__.py` exactly as `-m` does (runpy); an exception that escapes it is
# printed by the interpreter's own rules ("Traceback (most recent call last):", status 1). Only
# the imports are saved (1 to 8 seconds a run on a busy host), which makes hundreds of runs a
# minute possible.
_SERVER = r"""
import json, os, runpy, signal, sys, traceback
import metrics, metrics.cli, metrics.opening, metrics.views, pandas, pyarrow.parquet
here = os.path.realpath(os.getcwd())
assert os.path.realpath(metrics.__file__).startswith(here), metrics.__file__
main_file = os.path.join(os.path.dirname(metrics.__file__), "__main__.py")
reply = os.fdopen(os.dup(1), "w")
reply.write("ready\n"); reply.flush()

def exit_code(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1

for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(int(job["timeout"]))
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
                f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(f, fd)
                os.close(f)
            for k, v in job["env"].items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            sys.argv = [main_file, *job["argv"]]
            try:
                runpy.run_module("metrics", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exc:
                code = exit_code(exc)
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    reply.write(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss]) + "\n")
    reply.flush()
"""


class ForkServer:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = self.proc.stdout.readline()
        if ready != "ready\n":
            raise RuntimeError(f"the fork server did not start: {ready!r}")

    def run(self, argv, env: dict | None = None, timeout: float = TIMEOUT) -> Run:
        argv = tuple(str(a) for a in argv)
        with self.lock, tempfile.TemporaryDirectory(prefix="fuzz-run-") as tmp:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
            job = {
                "argv": argv,
                "stdout": str(out),
                "stderr": str(err),
                "env": env or {},
                "timeout": timeout,
            }
            started = time.perf_counter()
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline()
            if not answer:
                raise RuntimeError("the fork server died")
            code, rss = json.loads(answer)
            return Run(
                argv,
                code,
                out.read_bytes().decode("utf-8", "backslashreplace"),
                err.read_bytes().decode("utf-8", "backslashreplace"),
                rss,
                time.perf_counter() - started,
            )

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


_FORK_SERVER = ForkServer()
atexit.register(_FORK_SERVER.close)


def run_cli(argv, env: dict | None = None, runner: str | None = None) -> Run:
    """The command line through the fork server, or a new interpreter per run with
    `FUZZ_CLI=subprocess` (or `runner="subprocess"`)."""
    runner = runner or os.environ.get("FUZZ_CLI", "fork")
    if runner == "subprocess":
        return run_subprocess(argv, env)
    return _FORK_SERVER.run(argv, env)


def report_argv(root, start, end, granularity=None, teams=(), tz=None) -> list[str]:
    argv = ["report", "--data", str(root), "--start", str(start), "--end", str(end)]
    if granularity:
        argv += ["--granularity", granularity]
    for t in teams:
        argv += ["--team", t]
    if tz:
        argv += ["--tz", tz]
    return [*argv, "--format", "json", "--no-cache"]


# -- the invariants ------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` with the hash of its bytes ("dir" for folders, the target for
    symbolic links): equal snapshots mean nothing was changed, added or removed."""
    root = Path(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@dataclass(frozen=True)
class Reported:
    file: str
    column: str | None
    rule: str
    rows: int


def parse_issues(stderr: str) -> list[Reported]:
    """The issues of a rejection as printed: `  - FILE[, column 'C']: RULE[ (N rows, e.g. ...)]`;
    a line that does not start an issue continues the one before."""
    import re

    lines = stderr.rstrip("\n").split("\n")
    items: list[str] = []
    for line in lines[1:]:
        if line.startswith("  - "):
            items.append(line[4:])
        elif items:
            items[-1] += "\n" + line
    out = []
    for item in items:
        m = re.match(r"(?s)(?P<file>[^,:]+?)(?:, column '(?P<col>[^']*)')?: (?P<rule>.*)$", item)
        if not m:
            out.append(Reported(item, None, "", 0))
            continue
        rule = m["rule"]
        rows = re.search(r" \((\d+) rows?(?:, e\.g\. .*)?\)$", rule, re.S)
        if rows:
            rule = rule[: rows.start()]
        out.append(Reported(m["file"], m["col"], rule, int(rows[1]) if rows else 0))
    return out


def dataset_labels(root: Path) -> set[str]:
    """The names a rejection may give files of this dataset."""
    root = Path(root)
    names = {
        "organization.json",
        "users.parquet",
        "licenses.parquet",
        "topup_limits.parquet",
        "requests",
        "requests.parquet",
        "requests/",
    }
    if (root / "requests").is_dir():
        names |= {p.relative_to(root).as_posix() for p in (root / "requests").rglob("*")}
    return names


def check_run(run: Run, root: Path, before: dict[str, str], usage: bool = False) -> str:
    """The invariants of every run; returns "accepted" or "rejected"."""
    assert "Traceback" not in run.stderr, f"a traceback escaped: {run.argv}\n{run.stderr}"
    allowed = (0, 2, 3) if usage else (0, 3)
    assert run.code in allowed, f"exit {run.code}: {run.argv}\n{run.stderr}"
    assert snapshot(root) == before, "the dataset directory changed"
    if run.code == 3:
        assert run.stdout == "", f"exit 3 with output: {run.stdout!r}"
        assert run.stderr.startswith("dataset "), run.stderr
        issues = parse_issues(run.stderr)
        assert issues, f"exit 3 names no issue: {run.stderr}"
        labels = dataset_labels(root)
        unnamed = [i for i in issues if i.file not in labels]
        assert not unnamed, f"issues that name no file of the dataset: {unnamed}\n{run.stderr}"
        assert all(i.rule for i in issues), run.stderr
        return "rejected"
    if run.code == 2:
        assert run.stdout == ""
        return "usage"
    assert run.stderr == "", f"exit 0 with something on stderr: {run.stderr}"
    assert run.stdout.endswith("}\n") and run.stdout.count("\n") == 1, run.stdout
    assert isinstance(json.loads(run.stdout), dict)
    return "accepted"


# -- the model -----------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1)
US = 1_000_000
DAY_US = 86_400 * US
FIRST_US = -62_135_596_800 * US  # 0001-01-01
END_US = 253_402_300_800 * US  # 10000-01-01
NS_LO, NS_HI = -(2**63) // 1000 + 1, (2**63 - 1) // 1000  # what timestamp[ns] holds, in us
MAX_AMOUNT = 1_000_000_000.0

FILES = ("users.parquet", "licenses.parquet", "topup_limits.parquet", "requests")
COLUMNS = {
    "users.parquet": {"user_id": "string", "name": "string", "email": "string", "team": "string"},
    "licenses.parquet": {
        "license_id": "string",
        "user_id": "string",
        "plan": "string",
        "monthly_quota": "number",
        "valid_from": "timestamp",
        "valid_until": "timestamp",
        "cycle_anchor": "timestamp",
    },
    "topup_limits.parquet": {
        "user_id": "string",
        "effective_from": "timestamp",
        "monthly_limit": "number",
    },
    "requests": {
        "request_id": "string",
        "ts": "timestamp",
        "user_id": "string",
        "license_id": "string",
        "tool": "string",
        "mode": "string",
        "credits": "number",
    },
}
NULLABLE = {
    ("users.parquet", "name"),
    ("users.parquet", "email"),
    ("users.parquet", "team"),
    ("licenses.parquet", "valid_until"),
    ("licenses.parquet", "cycle_anchor"),
    ("topup_limits.parquet", "user_id"),
    ("requests", "mode"),
}
OPTIONAL = {("licenses.parquet", "cycle_anchor")}
UNIQUE = {("users.parquet", "user_id"), ("licenses.parquet", "license_id")}
UNIQUE |= {("requests", "request_id")}
# What a rejection says (docs/data-format.md, the contract's sections 1 and 8).
R_NULL = "must not be null"
R_UNIQUE = "must be unique"
R_UTF8 = "must be valid UTF-8 text"
R_AMOUNT = "must be a finite number >= 0 and at most 1,000,000,000"
R_YEARS = "must lie between the years 1 and 9999"
R_BELONGS = "must belong to the request's user_id"
R_MISSING = "required column is missing"
R_TOTAL = "must add up to at most 9,000,000,000,000"
R_KIND = {
    "string": "must be a string column",
    "timestamp": "must be a timestamp column",
    "number": "must be a numeric",
}
R_ORG_JSON = "must be a JSON object"
R_ORG_TZ = "must be an IANA timezone name"


def us(text: str) -> int:
    """'YYYY-MM-DD[ HH:MM[:SS]]' (UTC) as microseconds since 1970."""
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(microseconds=1)


def us_date(d: date) -> int:
    return (datetime(d.year, d.month, d.day) - EPOCH) // timedelta(microseconds=1)


@dataclass
class Model:
    users: list[dict]
    licenses: list[dict]
    requests: list[dict]
    topups: list[dict] | None = None  # None: no topup_limits.parquet
    timezone: str | None = "UTC"  # None: no organization.json

    def copy(self) -> Model:
        return Model(
            [dict(r) for r in self.users],
            [dict(r) for r in self.licenses],
            [dict(r) for r in self.requests],
            None if self.topups is None else [dict(r) for r in self.topups],
            self.timezone,
        )

    def rows(self, file: str) -> list[dict]:
        return {
            "users.parquet": self.users,
            "licenses.parquet": self.licenses,
            "topup_limits.parquet": self.topups or [],
            "requests": self.requests,
        }[file]

    def timestamps(self):
        for file, cols in COLUMNS.items():
            for col, kind in cols.items():
                if kind == "timestamp":
                    yield from (r[col] for r in self.rows(file) if r.get(col) is not None)


def m_user(uid, team=None, name=None, email=None) -> dict:
    return {"user_id": uid, "name": name, "email": email, "team": team}


def m_license(lid, uid, quota=10.0, valid_from=None, until=None, anchor=None, plan="AI Pro"):
    return {
        "license_id": lid,
        "user_id": uid,
        "plan": plan,
        "monthly_quota": quota,
        "valid_from": us("2020-01-01") if valid_from is None else valid_from,
        "valid_until": until,
        "cycle_anchor": anchor,
    }


# -- storage: the legal (and some illegal) ways of writing a model ---------------------------

STRING_TYPES = ("string", "large_string", "dict", "dict_large", "string_view")
NUMBER_TYPES = ("float64", "float32", "int64", "int32", "uint32", "decimal128", "decimal256")
TS_UNITS = ("s", "ms", "us", "ns")
TS_ZONES = ("UTC", None, "Asia/Tokyo", "America/St_Johns")
# Types of the wrong kind for each declared kind: the column must be rejected by its type.
WRONG_TYPES = {
    "string": ("int64", "binary", "bool", "list"),
    "number": ("string", "bool", "timestamp"),
    "timestamp": ("string", "int64", "float64", "time64"),
}


@dataclass
class Storage:
    """How a model is written. `types` maps (file, column) to a storage type name: one of
    STRING_TYPES, NUMBER_TYPES, ("ts", unit, tz) or "date32", "null", or ("wrong", name)."""

    types: dict = field(default_factory=dict)
    part_types: dict = field(default_factory=dict)  # (part index, column) -> type, requests/
    drop: set = field(default_factory=set)  # (file, column)
    duplicate: set = field(default_factory=set)  # (file, column) written twice
    extra: dict = field(default_factory=dict)  # file -> [extra column kinds]
    reverse: set = field(default_factory=set)  # files whose columns are written backwards
    row_group_size: dict = field(default_factory=dict)
    compression: dict = field(default_factory=dict)
    parquet_dictionary: dict = field(default_factory=dict)
    layout: str = "file"  # file | month | tool | user | flat | nested
    parts: int = 1  # files of a flat/nested layout
    markers: bool = False  # _SUCCESS, .hidden files and folders in requests/
    org: str = "plain"  # plain | pretty | bom | extra_keys | absent | (invalid ones below)
    odd_names: str = ""  # "text": file names with spaces, '#', 'ü'; "bytes": not UTF-8 either

    def type_of(self, file: str, col: str, part: int | None = None):
        if part is not None and (part, col) in self.part_types:
            return self.part_types[(part, col)]
        return self.types.get((file, col))


ORG_INVALID = ("not_utf8", "deep", "huge", "not_object", "bad_timezone", "empty")


def _text_bytes(v) -> bytes | None:
    if v is None:
        return None
    return v if isinstance(v, bytes) else v.encode("utf-8")


def _retype(arr: pa.Array, typ: pa.DataType) -> pa.Array:
    """The same buffers seen as another type: binary bytes as a string column, unvalidated."""
    return pa.Array.from_buffers(typ, len(arr), arr.buffers(), arr.null_count)


def string_array(values: list, how) -> pa.Array:
    raw = [_text_bytes(v) for v in values]
    if how in (None, "string"):
        return _retype(pa.array(raw, pa.binary()), pa.string())
    if how == "large_string":
        return _retype(pa.array(raw, pa.large_binary()), pa.large_string())
    if how in ("dict", "dict_large"):
        big = how == "dict_large"
        d = pc.dictionary_encode(pa.array(raw, pa.large_binary() if big else pa.binary()))
        values_type = pa.large_string() if big else pa.string()
        return pa.DictionaryArray.from_arrays(d.indices, _retype(d.dictionary, values_type))
    if how == "string_view":
        return pa.array(values, pa.string_view())
    if how == "null":
        return pa.nulls(len(values))
    raise ValueError(how)


def number_array(values: list, how) -> pa.Array:
    if how in (None, "float64"):
        return pa.array(values, pa.float64())
    if how == "float32":
        return pa.array(values, pa.float32())
    if how in ("int64", "int32", "uint32"):
        return pa.array([None if v is None else int(v) for v in values], getattr(pa, how)())
    if how in ("decimal128", "decimal256"):
        typ = pa.decimal128(18, 6) if how == "decimal128" else pa.decimal256(40, 6)
        return pa.array([None if v is None else Decimal(f"{v:.6f}") for v in values], typ)
    raise ValueError(how)


def timestamp_array(values: list, how) -> pa.Array:
    if how is None:
        how = ("ts", "us", "UTC")
    if how == "date32":
        return pa.array([None if v is None else v // DAY_US for v in values], pa.date32())
    _, unit, tz = how
    scale = {"s": US, "ms": 1000, "us": 1}
    if unit == "ns":
        ticks = [None if v is None else v * 1000 for v in values]
    else:
        ticks = [None if v is None else v // scale[unit] for v in values]
    return pa.array(ticks, pa.timestamp(unit, tz=tz))


def wrong_array(values: list, kind: str, how: str) -> pa.Array:
    """A column of the wrong kind, made from the values so that it looks plausible."""
    n = len(values)
    if how == "int64":
        return pa.array(range(n), pa.int64())
    if how == "float64":
        return pa.array([float(i) for i in range(n)], pa.float64())
    if how == "binary":
        return pa.array([_text_bytes(v) for v in values], pa.binary())
    if how == "bool":
        return pa.array([i % 2 == 0 for i in range(n)], pa.bool_())
    if how == "list":
        return pa.array([[i] for i in range(n)], pa.list_(pa.int32()))
    if how == "timestamp":
        return pa.array([0] * n, pa.timestamp("us"))
    if how == "time64":
        return pa.array([0] * n, pa.time64("us"))
    if how == "string":
        if kind == "timestamp":
            return pa.array(
                [None if v is None else str(EPOCH + timedelta(microseconds=v)) for v in values]
                if all(v is None or FIRST_US <= v < END_US for v in values)
                else ["2026-03-02 10:00"] * n,
                pa.string(),
            )
        return pa.array([None if v is None else repr(v) for v in values], pa.string())
    raise ValueError(how)


def column_array(file: str, col: str, values: list, how) -> pa.Array:
    kind = COLUMNS[file][col]
    if isinstance(how, tuple) and how[0] == "wrong":
        return wrong_array(values, kind, how[1])
    if how == "null":
        return pa.nulls(len(values))
    if kind == "string":
        return string_array(values, how)
    if kind == "number":
        return number_array(values, how)
    return timestamp_array(values, how)


EXTRA_KINDS = ("note", "tags", "meta", "raw_bytes", "case_variant", "index", "dup_extra")


def extra_array(kind: str, n: int) -> tuple[str, pa.Array]:
    if kind == "note":
        return "note", pa.array([f"note {i} ✓" for i in range(n)])
    if kind == "tags":
        return "tags", pa.array([[i, i + 1] for i in range(n)], pa.list_(pa.int32()))
    if kind == "meta":
        return "meta", pa.array([{"a": i, "b": str(i)} for i in range(n)])
    if kind == "raw_bytes":  # never read: bytes that are not UTF-8 in a column nobody uses
        return "raw", string_array([b"\xff\xfe"] * n, "string")
    if kind == "case_variant":
        return "Credits", pa.array([float("nan")] * n)
    if kind == "index":
        return "__index_level_0__", pa.array(range(n), pa.int64())
    if kind == "dup_extra":
        return "note", pa.array(["again"] * n)
    raise ValueError(kind)


def table_of(rows: list[dict], file: str, storage: Storage, part=None, hive=()) -> pa.Table:
    """One file's table; `hive` are columns its folder names hold instead."""
    arrays, names = [], []
    for col in COLUMNS[file]:
        if (file, col) in storage.drop:
            continue
        if col in hive:
            continue
        values = [r.get(col) for r in rows]
        arr = column_array(file, col, values, storage.type_of(file, col, part))
        arrays.append(arr)
        names.append(col)
        if (file, col) in storage.duplicate:
            arrays.append(arr)
            names.append(col)
    for kind in storage.extra.get(file, ()):
        name, arr = extra_array(kind, len(rows))
        arrays.append(arr)
        names.append(name)
    if file in storage.reverse:
        arrays, names = arrays[::-1], names[::-1]
    return pa.Table.from_arrays(arrays, names=names)


def hive_columns(where: str) -> set[str]:
    """Request columns that the folders of a path name (tool=junie/...)."""
    segs = where.split("/")[1:-1]
    return {k for k, eq, _ in (x.partition("=") for x in segs) if eq and k in COLUMNS["requests"]}


def _hive_col(storage: Storage) -> str | None:
    return {"tool": "tool", "user": "user_id"}.get(storage.layout)


def _write(table: pa.Table, path: Path, storage: Storage, file: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Arrow takes paths as UTF-8: a name that is not (bytes kept as surrogates) is renamed to.
    into = path.with_name(".writing.parquet")
    pq.write_table(
        table,
        into,
        row_group_size=storage.row_group_size.get(file) or None,
        compression=storage.compression.get(file, "snappy"),
        use_dictionary=storage.parquet_dictionary.get(file, True),
    )
    os.rename(os.fsencode(into), os.fsencode(path))


def org_bytes(tz: str, how: str) -> bytes:
    doc = {"name": "Fuzz org", "timezone": tz}
    if how == "plain":
        return json.dumps(doc).encode()
    if how == "pretty":
        return json.dumps(doc, indent=4, ensure_ascii=False).encode() + b"\n"
    if how == "bom":
        return b"\xef\xbb\xbf" + json.dumps(doc).encode()
    if how == "extra_keys":
        return json.dumps({**doc, "name": "Zürich 🙂", "plan": [1, {"x": None}]}).encode()
    if how == "not_utf8":
        return b'{"name": "Caf\xe9", "timezone": "' + tz.encode() + b'"}'
    if how == "deep":
        return b"[" * 100_000 + b"]" * 100_000
    if how == "huge":
        return json.dumps({**doc, "notes": "x" * (2 << 20)}).encode()
    if how == "not_object":
        return json.dumps([doc]).encode()
    if how == "bad_timezone":
        return json.dumps({**doc, "timezone": "Mars/Olympus_Mons"}).encode()
    if how == "empty":
        return b""
    raise ValueError(how)


def request_groups(model: Model, storage: Storage) -> list[tuple[str, list[dict]]]:
    """The files of the requests as (path inside the dataset, rows)."""
    reqs = model.requests
    if storage.layout == "file":
        return [("requests.parquet", reqs)]
    groups: dict[str, list[dict]] = {}
    if storage.layout == "month":
        for r in reqs:
            ts = r["ts"]
            month = "null" if ts is None else f"{_year_month(ts)}"
            groups.setdefault(f"requests/month={month}/part-0.parquet", []).append(r)
    elif storage.layout in ("tool", "user"):
        col = _hive_col(storage)
        for r in reqs:
            v = r[col]
            seg = "__HIVE_DEFAULT_PARTITION__" if v is None else quote(v, safe="")
            groups.setdefault(f"requests/{col}={seg}/part-0.parquet", []).append(r)
    else:
        n = max(1, storage.parts)
        for k in range(n):
            chunk = reqs[k * len(reqs) // n : (k + 1) * len(reqs) // n]
            where = f"requests/part-{k}.parquet"
            if storage.layout == "nested":
                where = f"requests/{2020 + k}/batch {k}/part-{k}.parquet"
            groups[where] = chunk
    if not groups:  # no request at all: one empty file keeps the folder a dataset
        groups["requests/part-0.parquet"] = []
    if storage.odd_names:
        odd = " ü #%20" + ("\udcff" if storage.odd_names == "bytes" else "")  # \udcff: byte FF
        groups = {w.replace("/part-", f"/part{odd}-"): rows for w, rows in groups.items()}
    return sorted(groups.items())


def _year_month(ts_us: int) -> str:
    if FIRST_US <= ts_us < END_US:
        d = EPOCH + timedelta(microseconds=ts_us)
        return f"{d.year:04d}-{d.month:02d}"
    return "far"


def write_model(model: Model, root: Path, storage: Storage | None = None) -> Path:
    storage = storage or Storage()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if model.timezone is not None and storage.org != "absent":
        (root / "organization.json").write_bytes(org_bytes(model.timezone, storage.org))
    for file in ("users.parquet", "licenses.parquet", "topup_limits.parquet"):
        rows = model.rows(file)
        if file == "topup_limits.parquet" and model.topups is None:
            continue
        _write(table_of(rows, file, storage), root / file, storage, file)
    for i, (where, rows) in enumerate(request_groups(model, storage)):
        part = None if storage.layout == "file" else i
        hive = hive_columns(where)
        table = table_of(rows, "requests", storage, part, hive)
        _write(table, root / where, storage, "requests")
    if storage.markers and storage.layout != "file":
        (root / "requests" / "_SUCCESS").write_bytes(b"")
        (root / "requests" / ".part-0.parquet.crc").write_bytes(b"\x00crc")
        (root / "requests" / "_temporary" / "0").mkdir(parents=True, exist_ok=True)
        (root / "requests" / "_temporary" / "0" / "junk.parquet").write_bytes(b"not parquet")
    return root


def canonical(model: Model) -> Model:
    """The model as a plain copy holds it: `mode` is never read, so bytes there become null."""
    m = model.copy()
    for r in m.requests:
        if isinstance(r.get("mode"), bytes):
            r["mode"] = None
    return m


def write_canonical(model: Model, root: Path) -> Path:
    """The plainest legal form: string, float64, timestamp[us, UTC], one requests.parquet."""
    return write_model(canonical(model), root, Storage())


def expected_report(model: Model, start, end, granularity=None, teams=(), tz=None) -> dict:
    """The loop reference's answer for a valid model."""
    with tempfile.TemporaryDirectory(prefix="fuzz-ref-") as tmp:
        root = write_canonical(model, Path(tmp) / "ds")
        return reference.report(root, start, end, granularity, tuple(teams), tz)


# -- the validator: the rules of section 1 and 8, read once more, as loops -------------------


def _ok_utf8(v) -> bool:
    if not isinstance(v, bytes):
        return True
    try:
        v.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _key(v):
    return _text_bytes(v)


def _bad_amount(v) -> bool:
    return v is not None and not (math.isfinite(v) and 0 <= v <= MAX_AMOUNT)


def _outside(v) -> bool:
    return v is not None and not (FIRST_US <= v < END_US)


def engine_values(model: Model, storage: Storage) -> Model:
    """The values as the engine reads them back from the storage chosen: float32 rounds."""
    m = model.copy()

    def narrow(rows, col):
        for r in rows:
            if r.get(col) is not None:
                r[col] = float(np.float32(r[col]))

    for file, col in [
        ("licenses.parquet", "monthly_quota"),
        ("topup_limits.parquet", "monthly_limit"),
    ]:
        if storage.type_of(file, col) == "float32":
            narrow(m.rows(file), col)
    for i, (_, rows) in enumerate(request_groups(m, storage)):
        part = None if storage.layout == "file" else i
        if storage.type_of("requests", "credits", part) == "float32":
            narrow(rows, "credits")
    return m


@dataclass
class Expected:
    """What the engine must say about a written model."""

    schema: set = field(default_factory=set)  # (label, column, rule part): files not read
    rows: Counter = field(default_factory=Counter)  # (label, column, rule) -> rows
    other: set = field(default_factory=set)  # (label, column or None, rule part): file-level

    @property
    def valid(self) -> bool:
        return not (self.schema or self.rows or self.other)


def expected_issues(model: Model, storage: Storage, tz_override: str | None = None) -> Expected:
    exp = Expected()
    if model.timezone is not None and storage.org in ORG_INVALID:
        if storage.org == "bad_timezone":
            if tz_override is None:
                exp.other.add(("organization.json", "timezone", R_ORG_TZ))
        else:
            exp.other.add(("organization.json", None, R_ORG_JSON))
    # The schema of every file (every part of requests/).
    files = [f for f in FILES if f != "topup_limits.parquet" or model.topups is not None]
    labels = {f: [f] for f in files}
    if storage.layout != "file":
        labels["requests"] = [w for w, _ in request_groups(model, storage)]
    elif "requests" in labels:
        labels["requests"] = ["requests.parquet"]
    for file in files:
        for i, label in enumerate(labels[file]):
            part = i if file == "requests" and storage.layout != "file" else None
            for col, kind in COLUMNS[file].items():
                if file == "requests" and col in hive_columns(label):
                    continue
                how = storage.type_of(file, col, part)
                if (file, col) in storage.drop:
                    if (file, col) not in OPTIONAL:
                        exp.schema.add((label, col, R_MISSING))
                elif (file, col) in storage.duplicate:
                    exp.schema.add((label, None, ""))
                elif (isinstance(how, tuple) and how[0] == "wrong") or (
                    how == "null" and (file, col) not in NULLABLE
                ):
                    exp.schema.add((label, col, R_KIND[kind]))
    if exp.schema:
        return exp  # the engine stops at the files it cannot read; no row is judged
    _row_rules(exp, model)
    return exp


def _row_rules(exp: Expected, m: Model) -> None:
    def count(label, col, rule, n):
        if n:
            exp.rows[(label, col, rule)] += n

    def common(file, label, rows):
        for col in COLUMNS[file]:
            values = [r.get(col) for r in rows]
            if (file, col) not in NULLABLE:
                count(label, col, R_NULL, sum(v is None for v in values))
            kind = COLUMNS[file][col]
            if kind == "string" and not (file == "requests" and col == "mode"):
                count(label, col, R_UTF8, sum(not _ok_utf8(v) for v in values))
            if kind == "number":
                count(label, col, R_AMOUNT, sum(_bad_amount(v) for v in values))
            if kind == "timestamp":
                count(label, col, R_YEARS, sum(_outside(v) for v in values))
            if (file, col) in UNIQUE:
                c = Counter(_key(v) for v in values if v is not None)
                count(label, col, R_UNIQUE, sum(n for n in c.values() if n > 1))

    common("users.parquet", "users.parquet", m.users)
    users = {_key(u["user_id"]) for u in m.users if u["user_id"] is not None}
    common("licenses.parquet", "licenses.parquet", m.licenses)
    count(
        "licenses.parquet",
        "user_id",
        "must exist in users.parquet",
        sum(r["user_id"] is not None and _key(r["user_id"]) not in users for r in m.licenses),
    )
    if m.topups is not None:
        common("topup_limits.parquet", "topup_limits.parquet", m.topups)
    owner: dict = {}
    for lic in m.licenses:
        if lic["license_id"] is not None:
            owner.setdefault(_key(lic["license_id"]), _key(lic["user_id"]))
    common("requests", "requests", m.requests)
    dangling_user = dangling_lic = foreign = 0
    total = 0
    for r in m.requests:
        user, lic = _key(r["user_id"]), _key(r["license_id"])
        dangling_user += user is not None and user not in users
        dangling_lic += lic is not None and lic not in owner
        if lic in owner and user in users and owner[lic] != user:
            foreign += 1
        c = r["credits"]
        counted = (
            c is not None
            and not _bad_amount(c)
            and c > 0
            and lic in owner
            and not _outside(r["ts"])
            and r["tool"] not in ("code_completion", "next_edit_suggestion")
        )
        if counted:
            total += round(c * US)
    count("requests", "user_id", "must exist in users.parquet", dangling_user)
    count("requests", "license_id", "must exist in licenses.parquet", dangling_lic)
    count("requests", "license_id", R_BELONGS, foreign)
    if total > 9_000_000_000_000 * US:
        exp.other.add(("requests", "credits", R_TOTAL))


def check_expected(run: Run, exp: Expected) -> None:
    """A rejection names exactly the broken rules with their row counts (all of them, when
    every file could be read)."""
    assert run.code == 3, f"expected a rejection of {sorted(exp.rows) or exp.schema}: {run}"
    got = parse_issues(run.stderr)

    def find(label, col, rule):
        return [
            i
            for i in got
            if i.file == label and (col is None or i.column == col) and rule in i.rule
        ]

    for label, col, rule in exp.schema | exp.other:
        assert find(label, col, rule), f"no {label}/{col}/{rule!r} in:\n{run.stderr}"
    if exp.schema:
        return
    for (label, col, rule), rows in exp.rows.items():
        found = find(label, col, rule)
        assert found, f"no {label}/{col}/{rule!r} in:\n{run.stderr}"
        assert found[0].rows == rows, f"{label}/{col}/{rule!r}: {found[0].rows} rows, not {rows}"
    expected_keys = set(exp.rows) | {k for k in exp.other}
    for i in got:
        assert any(
            i.file == label and (col is None or i.column == col) and rule in i.rule
            for label, col, rule in expected_keys
        ), f"an issue nobody expected: {i}\n{run.stderr}"


# -- the strategies ---------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Prague", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
TOOLS = [
    "junie",
    "claude_agent",
    "ai_assistant_chat",
    "code_completion",
    "next_edit_suggestion",
    "x",
    "",
    "Junie",
    "a/b c%",
    "ünï 🙂",
]
CREDITS = [0.0, -0.0, 1e-7, 0.000001, 0.1, 0.5, 1.0, 3.0, 7.25, 123.456789, MAX_AMOUNT]
QUOTAS = [0.0, 1.0, 2.5, 5.0, 10.0, 1000.0, MAX_AMOUNT]
LIMITS = [0.0, 1.0, 2.5, 10.0, MAX_AMOUNT]
NAMES = [None, "", "Ann", "Zoë Ünïcode", "李雷", "🙂", "x" * 300, "quote ' \" \\", "nul\x00byte"]
TEAMS = [None, "A", "B", "Platform Team", "Équipe", ""]
BAD_BYTES = [b"\xff", b"\xc3\x28", b"ok\x80", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80"]
BASE = date(2026, 1, 1)
BASE_US = us_date(BASE)
# Instants the years 1 to 9999 hold, whole seconds, with a day's margin at both ends.
FAR_SAFE = (us("0001-01-03"), us("9999-12-29"))


@dataclass
class Case:
    """A model, how it is written, what was done to it, and the report asked of it."""

    model: Model
    storage: Storage
    start: date
    end: date
    granularity: str | None = None
    teams: tuple = ()
    tz: str | None = None
    mutations: list = field(default_factory=list)
    damage: list = field(default_factory=list)  # (kind, target path inside the dataset)

    def argv(self, root) -> list[str]:
        return report_argv(root, self.start, self.end, self.granularity, self.teams, self.tz)


def _ids(draw, prefix: str, n: int) -> list[str]:
    style = draw(st.sampled_from(["plain", "padded", "odd", "decreasing"]))
    if style == "plain":
        return [f"{prefix}{i}" for i in range(n)]
    if style == "padded":
        return [f"{prefix}{i:06d}" for i in range(n)]
    if style == "decreasing":
        return [f"{prefix}{n - i:03d}" for i in range(n)]
    pool = ["", " ", "ünï", "日本", "🙂", "a'b", "x" * 200, "r\x00", "R", "r"]
    return [pool[i] + f"{prefix}{i}" if i < len(pool) else f"{prefix}{i}" for i in range(n)]


@st.composite
def models(draw, max_requests: int = 25) -> Model:
    n_users = draw(st.integers(0, 4))
    uids = _ids(draw, "u", n_users)
    users = [
        m_user(
            uid,
            draw(st.sampled_from(TEAMS)),
            draw(st.sampled_from(NAMES)),
            draw(st.sampled_from([None, f"{uid}@example.com"])),
        )
        for uid in uids
    ]
    licenses = []
    lids = _ids(draw, "l", 8)
    for uid in uids:
        for _ in range(draw(st.integers(0 if n_users > 1 else 1, 2))):
            anchor = None
            if draw(st.booleans()):
                anchor = BASE_US + draw(st.integers(-40, 120)) * DAY_US
                anchor += draw(st.integers(0, 23)) * 3600 * US
            licenses.append(
                m_license(
                    lids[len(licenses)],
                    uid,
                    draw(st.sampled_from(QUOTAS)),
                    valid_from=draw(st.sampled_from([us("2020-01-01"), us("2026-02-01")])),
                    until=draw(st.sampled_from([None, us("2026-03-15"), us("2030-01-01")])),
                    anchor=anchor,
                    plan=draw(st.sampled_from(["AI Pro", "AI Ultimate", "AI Enterprise", "ø"])),
                )
            )
    requests = []
    if licenses:
        n = draw(st.integers(0, max_requests))
        rids = _ids(draw, "r", n)
        for k in range(n):
            lic = draw(st.sampled_from(licenses))
            minute = draw(st.integers(-10 * 24 * 4, 120 * 24 * 4)) * 15  # ties happen
            requests.append(
                request(
                    rids[k],
                    BASE_US + minute * 60 * US,
                    lic["user_id"],
                    lic["license_id"],
                    draw(st.sampled_from(CREDITS)),
                    draw(st.sampled_from(TOOLS)),
                    draw(st.sampled_from([None, "code", "ask"])),
                )
            )
        if draw(st.booleans()):
            requests = draw(st.permutations(requests))
    topups = None
    if draw(st.booleans()):
        topups = []
        for _ in range(draw(st.integers(0, 4))):
            who = draw(st.sampled_from([None, "ghost", *uids]))
            day = draw(st.integers(-30, 120))
            topups.append(topup(who, BASE_US + day * DAY_US, draw(st.sampled_from(LIMITS))))
    tz = draw(st.sampled_from([*ZONES, None]))
    return Model(users, licenses, requests, topups, tz)


@st.composite
def report_options(draw, model: Model) -> dict:
    start = BASE + timedelta(days=draw(st.integers(-15, 110)))
    end = start + timedelta(days=draw(st.integers(0, 130)))
    teams = sorted({u["team"] for u in model.users if isinstance(u["team"], str)})
    chosen = ()
    if teams and draw(st.integers(0, 3)) == 0:
        chosen = tuple(draw(st.lists(st.sampled_from(teams), min_size=1, max_size=2, unique=True)))
    return {
        "start": start,
        "end": end,
        "granularity": draw(st.sampled_from([None, "day", "week", "month", "year"])),
        "teams": chosen,
        "tz": draw(st.sampled_from([None, None, None, "Asia/Tokyo", "America/Los_Angeles"])),
    }


# Storage choices that keep every value: the engine must answer exactly as for the plain form.


def _fits(values, how) -> bool:
    """Whether a storage type holds every value exactly (or, for float32, as the engine will
    read it back, which `engine_values` accounts for)."""
    vals = [v for v in values if v is not None]
    if how in ("int64", "int32", "uint32"):
        top = {"int64": 2**62, "int32": 2**31 - 1, "uint32": 2**32 - 1}[how]
        return all(isinstance(v, float) and v.is_integer() and 0 <= v <= top for v in vals)
    if how in ("decimal128", "decimal256"):
        return all(
            math.isfinite(v) and abs(v) < 1e11 and float(Decimal(f"{v:.6f}")) == v for v in vals
        )
    if how == "float32":
        return all(not math.isfinite(v) or abs(v) < 3e38 for v in vals)
    if how == "string_view":
        return all(not isinstance(v, bytes) for v in vals)
    if how == "null":
        return not vals
    if how == "date32":
        return all(v % DAY_US == 0 and FIRST_US <= v < END_US for v in vals)
    if isinstance(how, tuple) and how[0] == "ts":
        unit = how[1]
        if unit == "ns":
            return all(NS_LO <= v <= NS_HI for v in vals)
        step = {"s": US, "ms": 1000, "us": 1}[unit]
        return all(v % step == 0 for v in vals)
    return True


def _column_values(model: Model, file: str, col: str) -> list:
    return [r.get(col) for r in model.rows(file)]


STORAGE_KINDS = (
    "string_types",
    "number_types",
    "timestamp_types",
    "row_groups",
    "compression",
    "layout",
    "extra_columns",
    "column_order",
    "org_format",
    "null_typed",
    "drop_optional",
    "mixed_parts",
    "odd_names",
)


def apply_storage(draw, case: Case, kind: str, known_bugs: bool) -> None:
    m, s = case.model, case.storage
    files = [f for f in FILES if f != "topup_limits.parquet" or m.topups is not None]
    if kind == "string_types":
        options = STRING_TYPES if known_bugs else STRING_TYPES[:-1]
        for file in files:
            for col, k in COLUMNS[file].items():
                if k == "string" and draw(st.booleans()):
                    how = draw(st.sampled_from(options))
                    if _fits(_column_values(m, file, col), how):
                        s.types[(file, col)] = how
    elif kind == "number_types":
        for file in files:
            for col, k in COLUMNS[file].items():
                if k == "number":
                    how = draw(st.sampled_from(NUMBER_TYPES))
                    if _fits(_column_values(m, file, col), how):
                        s.types[(file, col)] = how
    elif kind == "timestamp_types":
        all_fit_ns = all(NS_LO <= v <= NS_HI for v in m.timestamps())
        for file in files:
            for col, k in COLUMNS[file].items():
                if k != "timestamp" or not draw(st.booleans()):
                    continue
                how = draw(
                    st.sampled_from([*(("ts", u, z) for u in TS_UNITS for z in TS_ZONES), "date32"])
                )
                if how != "date32" and how[1] == "ns" and not (all_fit_ns or known_bugs):
                    continue  # known bug: instants clamped to ns's range lose their order
                if _fits(_column_values(m, file, col), how):
                    s.types[(file, col)] = how
    elif kind == "row_groups":
        for file in files:
            s.row_group_size[file] = draw(st.sampled_from([0, 1, 2, 3, 7]))
    elif kind == "compression":
        for file in files:
            s.compression[file] = draw(st.sampled_from(["snappy", "zstd", "gzip", "none"]))
            s.parquet_dictionary[file] = draw(st.booleans())
    elif kind == "layout":
        layouts = ["month", "flat", "nested", "tool", "user"]
        layout = draw(st.sampled_from(layouts))
        col = {"tool": "tool", "user": "user_id"}.get(layout)
        if col and not all(isinstance(r[col], str) for r in m.requests):
            layout = "month"  # a folder name holds text only
        s.layout = layout
        s.parts = draw(st.integers(1, 4))
        s.markers = draw(st.booleans())
    elif kind == "extra_columns":
        for file in files:
            if draw(st.booleans()):
                s.extra[file] = draw(st.lists(st.sampled_from(EXTRA_KINDS), max_size=3))
    elif kind == "column_order":
        s.reverse |= {f for f in files if draw(st.booleans())}
    elif kind == "org_format":
        if m.timezone is not None:
            options = ["pretty", "bom", "extra_keys"] + (["absent"] if m.timezone == "UTC" else [])
            s.org = draw(st.sampled_from(options))
    elif kind == "null_typed":
        file, col = draw(st.sampled_from(sorted(NULLABLE)))
        if file in files:
            for r in m.rows(file):
                r[col] = None
            s.types[(file, col)] = "null"
    elif kind == "drop_optional":
        for r in m.licenses:
            r["cycle_anchor"] = None
        s.drop.add(("licenses.parquet", "cycle_anchor"))
    elif kind == "odd_names":
        if s.layout == "file":
            s.layout, s.parts = "flat", draw(st.integers(1, 3))
        s.odd_names = draw(st.sampled_from(["text", "bytes"] if known_bugs else ["text"]))
    elif kind == "mixed_parts":
        if s.layout == "file":
            s.layout, s.parts = "flat", draw(st.integers(2, 4))
        n = len(request_groups(m, s))
        for part in range(n):
            for col in ("request_id", "user_id", "license_id", "tool", "mode"):
                if draw(st.booleans()):
                    how = draw(st.sampled_from(STRING_TYPES if known_bugs else STRING_TYPES[:-1]))
                    if _fits(_column_values(m, "requests", col), how):
                        s.part_types[(part, col)] = how
            if draw(st.booleans()):
                how = (
                    "ts",
                    draw(st.sampled_from(["s", "ms", "us"])),
                    draw(st.sampled_from(TS_ZONES)),
                )
                if _fits(_column_values(m, "requests", "ts"), how):
                    s.part_types[(part, "ts")] = how
            if draw(st.booleans()):
                how = draw(st.sampled_from(["float64", "int64", "decimal128"]))
                if _fits(_column_values(m, "requests", "credits"), how):
                    s.part_types[(part, "credits")] = how
    else:
        raise ValueError(kind)
    case.mutations.append(kind)


# Changes of values: some keep the dataset valid (far timestamps, bounds met exactly), most
# break one rule; `expected_issues` says which.

VALUE_KINDS = (
    "null",
    "bad_amount",
    "amount_at_bound",
    "duplicate",
    "dangling",
    "foreign_license",
    "bad_utf8",
    "mode_bytes",
    "far_timestamp",
    "beyond_timestamp",
    "wrong_type",
    "missing_column",
    "duplicate_column",
    "org_invalid",
    "empty_tables",
)


def _times_us(seconds: int) -> int:
    return seconds * US


def _pick_row(draw, rows: list[dict]) -> dict | None:
    return draw(st.sampled_from(rows)) if rows else None


def apply_value(draw, case: Case, kind: str, known_bugs: bool) -> None:
    m, s = case.model, case.storage
    files = [f for f in FILES if m.rows(f)]
    if kind == "null" and files:
        file = draw(st.sampled_from(files))
        col = draw(st.sampled_from([c for c in COLUMNS[file] if (file, c) not in NULLABLE]))
        if file == "requests" and col == _hive_col(s) and not known_bugs:
            s.layout = "flat"  # known bug: tool=__HIVE_DEFAULT_PARTITION__ is read as text
        _pick_row(draw, m.rows(file))[col] = None
    elif kind == "bad_amount":
        file, col = draw(
            st.sampled_from(
                [
                    ("licenses.parquet", "monthly_quota"),
                    ("topup_limits.parquet", "monthly_limit"),
                    ("requests", "credits"),
                ]
            )
        )
        row = _pick_row(draw, m.rows(file))
        if row is not None:
            row[col] = draw(
                st.sampled_from(
                    [
                        float("nan"),
                        float("inf"),
                        -float("inf"),
                        -1.0,
                        -1e-9,
                        1e13,
                        math.nextafter(MAX_AMOUNT, math.inf),
                        1e300,
                    ]
                )
            )
    elif kind == "amount_at_bound":
        for file, col in [
            ("licenses.parquet", "monthly_quota"),
            ("topup_limits.parquet", "monthly_limit"),
            ("requests", "credits"),
        ]:
            row = _pick_row(draw, m.rows(file))
            if row is not None:
                row[col] = MAX_AMOUNT
    elif kind == "duplicate":
        file = draw(st.sampled_from(["users.parquet", "licenses.parquet", "requests"]))
        col = {"users.parquet": "user_id", "licenses.parquet": "license_id"}.get(file, "request_id")
        rows = m.rows(file)
        if rows:
            src = draw(st.sampled_from(rows))
            if len(rows) > 1 and draw(st.booleans()):
                draw(st.sampled_from([r for r in rows if r is not src]))[col] = src[col]
            else:
                rows.insert(draw(st.integers(0, len(rows))), dict(src))
    elif kind == "dangling":
        file, col = draw(
            st.sampled_from(
                [
                    ("licenses.parquet", "user_id"),
                    ("requests", "user_id"),
                    ("requests", "license_id"),
                    ("topup_limits.parquet", "user_id"),  # never applies: no rule broken
                ]
            )
        )
        row = _pick_row(draw, m.rows(file))
        if row is not None:
            row[col] = draw(st.sampled_from(["ghost", "U0", "u0 ", ""]))
    elif kind == "foreign_license":
        if m.requests and len({lic["user_id"] for lic in m.licenses}) > 1:
            r = draw(st.sampled_from(m.requests))
            r["license_id"] = draw(st.sampled_from(m.licenses))["license_id"]
    elif kind == "bad_utf8" and files:
        file = draw(st.sampled_from(files))
        cols = [c for c, k in COLUMNS[file].items() if k == "string" and c != "mode"]
        col = draw(st.sampled_from(cols))
        if file == "requests" and col == _hive_col(s):
            s.layout = "flat"
        rows = m.rows(file)
        for r in draw(st.lists(st.sampled_from(rows), min_size=1, max_size=3)):
            r[col] = draw(st.sampled_from(BAD_BYTES))
        for key in [k for k in s.types if k[0] == file and k[1] == col]:
            if s.types[key] == "string_view":
                del s.types[key]
        for key in [k for k in s.part_types if file == "requests" and k[1] == col]:
            if s.part_types[key] == "string_view":
                del s.part_types[key]
    elif kind == "mode_bytes":
        for r in m.requests:
            if draw(st.booleans()):
                r["mode"] = draw(st.sampled_from(BAD_BYTES))
        for key in [k for k in s.types if k == ("requests", "mode")]:
            del s.types[key]
        for key in [k for k in s.part_types if k[1] == "mode"]:
            del s.part_types[key]
    elif kind in ("far_timestamp", "beyond_timestamp"):
        targets = [
            ("requests", "ts"),
            ("licenses.parquet", "valid_from"),
            ("licenses.parquet", "valid_until"),
            ("licenses.parquet", "cycle_anchor"),
            ("topup_limits.parquet", "effective_from"),
        ]
        file, col = draw(st.sampled_from(targets))
        row = _pick_row(draw, m.rows(file))
        if row is None:
            return
        if kind == "far_timestamp":
            lo, hi = (FIRST_US, END_US - US) if known_bugs else FAR_SAFE
            row[col] = draw(
                st.one_of(st.sampled_from([lo, hi]), st.integers(lo // US, hi // US).map(_times_us))
            )
            if file == "requests" and draw(st.booleans()):
                # Ask for the month of the far request too: its numbers must be right.
                d = (EPOCH + timedelta(microseconds=row[col])).date().replace(day=1)
                case.start, case.end = d, d + timedelta(days=27)
                case.teams, case.tz = (), None
                if d.year == 9999 and not known_bugs:
                    case.granularity = "day"  # known bug: a bucket may not end after 9999
        else:
            row[col] = draw(
                st.sampled_from(
                    [FIRST_US - US, END_US, END_US + DAY_US, FIRST_US - 400 * 366 * DAY_US]
                )
            )
        # The storage chosen before may not hold the new value: back to the default.
        for key in [k for k in s.types if k == (file, col)]:
            if not _fits([row[col]], s.types[key]):
                del s.types[key]
        for key in [k for k in s.part_types if file == "requests" and k[1] == col]:
            if not _fits([row[col]], s.part_types[key]):
                del s.part_types[key]
        if not known_bugs and not all(NS_LO <= v <= NS_HI for v in m.timestamps()):
            for key, how in list(s.types.items()):
                if isinstance(how, tuple) and how[0] == "ts" and how[1] == "ns":
                    del s.types[key]
    elif kind == "wrong_type" and files:
        file = draw(st.sampled_from(files))
        col = draw(st.sampled_from(list(COLUMNS[file])))
        if file == "requests" and col == _hive_col(s):
            s.layout = "flat"
        s.types[(file, col)] = ("wrong", draw(st.sampled_from(WRONG_TYPES[COLUMNS[file][col]])))
        if file == "requests":
            for key in [k for k in s.part_types if k[1] == col]:
                del s.part_types[key]
    elif kind == "missing_column":
        file = draw(
            st.sampled_from(
                [f for f in FILES if f != "topup_limits.parquet" or m.topups is not None]
            )
        )
        col = draw(st.sampled_from(list(COLUMNS[file])))
        if (file, col) in OPTIONAL:
            for r in m.licenses:
                r["cycle_anchor"] = None
        if file == "requests" and col == _hive_col(s):
            s.layout = "flat"
        s.drop.add((file, col))
    elif kind == "duplicate_column":
        file = draw(
            st.sampled_from(
                [f for f in FILES if f != "topup_limits.parquet" or m.topups is not None]
            )
        )
        col = draw(st.sampled_from(list(COLUMNS[file])))
        # Known bug: a repeated column hides the file's other schema issues.
        other = any(f == file for f, _ in s.drop) or any(
            f == file and isinstance(h, tuple) and h[0] == "wrong" for (f, _), h in s.types.items()
        )
        hive = file == "requests" and col == _hive_col(s)
        if not hive and (file, col) not in s.drop and (known_bugs or not other):
            s.duplicate.add((file, col))
    elif kind == "org_invalid":
        if m.timezone is not None:
            s.org = draw(st.sampled_from(ORG_INVALID))
    elif kind == "empty_tables":
        what = draw(st.sampled_from(["requests", "licenses", "everything"]))
        m.requests.clear()
        if what in ("licenses", "everything"):
            m.licenses.clear()
        if what == "everything":
            m.users.clear()
            if m.topups is not None:
                m.topups.clear()
    else:
        return
    case.mutations.append(kind)


# Damage to the files themselves: bytes changed, files cut short, folders where files belong.

DAMAGE_KINDS = ("flip_bytes", "truncate", "folder_for_file", "empty_requests_dir")


def data_files(root: Path) -> list[str]:
    root = Path(root)
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix in (".parquet", ".json")
        and "_temporary" not in p.parts
        and not p.name.startswith(".")
    )


def plan_damage(draw, case: Case, kind: str, known_bugs: bool) -> None:
    case.damage.append((kind, draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))))
    case.mutations.append(kind)


def apply_damage(root: Path, case: Case, known_bugs: bool) -> list[tuple[str, str]]:
    """Damages the written dataset as planned; returns (kind, file) of what was done."""
    done = []
    for kind, a, b in case.damage:
        files = data_files(root)
        if kind == "flip_bytes" and files:
            target = files[a % len(files)]
            p = root / target
            data = bytearray(p.read_bytes())
            if len(data) > 16:
                at = 4 + a % (len(data) - 12)  # not the magic bytes: the middle of the file
                n = 1 + b % 16
                for i in range(at, min(at + n, len(data) - 8)):
                    data[i] ^= 0xFF if b % 2 else (1 << (i % 8))
                p.write_bytes(bytes(data))
                done.append((kind, target))
        elif kind == "truncate" and files:
            target = files[a % len(files)]
            p = root / target
            data = p.read_bytes()
            p.write_bytes(data[: b % max(1, len(data))])
            done.append((kind, target))
        elif kind == "folder_for_file":
            options = ["users.parquet", "licenses.parquet", "requests.parquet"]
            if known_bugs:
                options += ["topup_limits.parquet", "organization.json"]
            options = [o for o in options if (root / o).exists() or o == "users.parquet"]
            target = options[a % len(options)]
            p = root / target
            _remove(p)
            p.mkdir()
            (p / "part-0.parquet").write_bytes(b"PAR1")
            done.append((kind, target))
        elif kind == "empty_requests_dir":
            _remove(root / "requests.parquet")
            _remove(root / "requests")
            (root / "requests").mkdir()
            if a % 2:
                (root / "requests" / "_SUCCESS").write_bytes(b"")
            done.append((kind, "requests/"))
    return done


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()


@st.composite
def cases(
    draw,
    kinds=STORAGE_KINDS + VALUE_KINDS + DAMAGE_KINDS,
    known_bugs=False,
    max_mutations=3,
    max_requests=25,
) -> Case:
    model = draw(models(max_requests))
    opts = draw(report_options(model))
    case = Case(model, Storage(), **opts)
    drawn = draw(st.lists(st.sampled_from(list(kinds)), min_size=1, max_size=max_mutations))
    # Storage first, then values, then damage: a broken value outlives any storage choice.
    order = {k: i for i, k in enumerate(STORAGE_KINDS + VALUE_KINDS + DAMAGE_KINDS)}
    for kind in sorted(drawn, key=order.__getitem__):
        before = repr((case.model, case.storage, case.damage))
        if kind in STORAGE_KINDS:
            apply_storage(draw, case, kind, known_bugs)
        elif kind in VALUE_KINDS:
            apply_value(draw, case, kind, known_bugs)
        else:
            plan_damage(draw, case, kind, known_bugs)
        unchanged = repr((case.model, case.storage, case.damage)) == before
        if unchanged and case.mutations and case.mutations[-1] == kind:
            case.mutations.pop()  # nothing to apply it to
    # A value changed after its storage was chosen may not fit it any more: plain storage then.
    # A column not written holds no value.
    s, m = case.storage, case.model
    for file, col in s.drop:
        for r in m.rows(file):
            r[col] = None
    for (file, col), how in list(s.types.items()):
        if not _fits(_column_values(m, file, col), how):
            del s.types[(file, col)]
    for i, (_, rows) in enumerate(request_groups(m, s)):
        for col in COLUMNS["requests"]:
            how = s.part_types.get((i, col))
            if how is not None and not _fits([r.get(col) for r in rows], how):
                del s.part_types[(i, col)]
    # A team filter names teams that still exist; the command line refuses others (exit 2).
    teams = {u["team"] for u in case.model.users if isinstance(u["team"], str)}
    case.teams = tuple(t for t in case.teams if t in teams)
    return case


# -- one case, end to end ---------------------------------------------------------------------


@dataclass
class Outcome:
    kind: str  # accepted | rejected
    run: Run
    damage: list


def run_case(case: Case, workdir: Path, known_bugs: bool = False) -> Outcome:
    """Writes the case, runs the command line on it and checks every invariant; raises
    AssertionError with the reason when one does not hold."""
    root = Path(tempfile.mkdtemp(prefix="ds-", dir=workdir))
    try:
        write_model(case.model, root, case.storage)
        done = apply_damage(root, case, known_bugs)
        before = snapshot(root)
        run = run_cli(case.argv(root))
        kind = check_run(run, root, before)
        engine_model = engine_values(case.model, case.storage)
        if done:
            _check_damaged(run, root, case, engine_model, done)
            return Outcome(kind, run, done)
        exp = expected_issues(engine_model, case.storage, case.tz)
        if exp.valid:
            assert run.code == 0, f"a valid dataset was rejected:\n{run.stderr}"
            want = expected_report(
                engine_model, case.start, case.end, case.granularity, case.teams, case.tz
            )
            assert json.loads(run.stdout) == want, diff(json.loads(run.stdout), want)
        else:
            check_expected(run, exp)
        return Outcome(kind, run, done)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _check_damaged(run: Run, root: Path, case: Case, model: Model, done) -> None:
    """Damaged files: a rejection names a file (checked already) — a damaged one, unless the
    damage left a readable file whose values break a row rule; an answer must be what the
    damaged files hold, as Arrow reads them."""
    if run.code == 3:
        return
    folders = {t for k, t in done if k in ("folder_for_file", "empty_requests_dir")}
    assert not folders, f"a folder in place of {folders} was accepted"
    answer = json.loads(run.stdout)
    want = reference_from_files(root, case)
    assert answer == want, diff(answer, want)


def reference_from_files(root: Path, case: Case) -> dict:
    """The reference's answer for what the files hold, read with Arrow column by column (the
    engine's columns only, so a damaged column nobody reads cannot stop it)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-ref-") as tmp:
        plain = Path(tmp) / "ds"
        plain.mkdir()
        org = root / "organization.json"
        if org.is_file():
            doc = json.loads(org.read_bytes().decode("utf-8-sig"))
            (plain / "organization.json").write_text(json.dumps(doc))
        for file in ("users.parquet", "licenses.parquet", "topup_limits.parquet"):
            if (root / file).is_file():
                pq.write_table(_plain_table(root / file, file), plain / file)
        if (root / "requests.parquet").is_file():
            pq.write_table(
                _plain_table(root / "requests.parquet", "requests"), plain / "requests.parquet"
            )
        else:
            parts = [
                p
                for p in sorted((root / "requests").rglob("*"))
                if p.is_file()
                and not any(
                    s.startswith((".", "_")) for s in p.relative_to(root / "requests").parts
                )
            ]
            tables = [_plain_table(p, "requests", p.relative_to(root / "requests")) for p in parts]
            pq.write_table(pa.concat_tables(tables), plain / "requests.parquet")
        return reference.report(
            plain, case.start, case.end, case.granularity, tuple(case.teams), case.tz
        )


def _plain_table(path: Path, file: str, rel: Path | None = None) -> pa.Table:
    names = pq.read_schema(path).names
    keys = {}
    if rel is not None:
        for seg in rel.parts[:-1]:
            k, eq, v = seg.partition("=")
            if eq and k in COLUMNS["requests"]:
                from urllib.parse import unquote

                keys[k] = unquote(v)
    cols = [c for c in COLUMNS[file] if c in names and c != "mode"]
    t = pq.read_table(path, columns=cols)
    out = {}
    for col, kind in COLUMNS[file].items():
        if col == "mode":
            continue
        if col in keys:
            out[col] = pa.array([keys[col]] * t.num_rows, pa.string())
            continue
        if col not in t.column_names:
            continue
        v = t[col].combine_chunks()
        if pa.types.is_dictionary(v.type):
            v = v.dictionary_decode()
        if kind == "string":
            v = v.cast(pa.string())
        elif kind == "number":
            v = pc.cast(v, pa.float64(), safe=False)
        else:
            if pa.types.is_date(v.type):
                v = v.cast(pa.timestamp("s"))
            v = v.cast(pa.timestamp(v.type.unit, tz="UTC")) if v.type.tz is None else v
            v = v.cast(pa.timestamp("us", tz="UTC"))
        out[col] = v
    return pa.table(out)


def diff(got: dict, want: dict) -> str:
    lines = ["the answer differs from the reference:"]
    for k in want:
        if got.get(k) != want[k]:
            lines.append(f"  {k}: engine {got.get(k)!r}\n  {' ' * len(k)}  reference {want[k]!r}")
    return "\n".join(lines)
