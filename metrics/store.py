"""On-disk cache of the ledger, so that a second process starts warm.

The cache key is a fingerprint of the dataset's files (path, size, modification time), the
timezone the ledger was computed in and the engine version; any change to an input makes a new
key, so a stale ledger is never read. Entries are written to a temporary directory and renamed
into place, so a crash never leaves a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from metrics.reading import dataset_files

ENGINE_VERSION = "2"
# Arrow's own file format: written and read back several times faster than Parquet.
LEDGER_FILE = "ledger.arrow"


def default_cache_dir() -> Path:
    env = os.environ.get("AI_CONSOLE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ai-adoption-console"


def files_stamp(root: Path) -> str:
    """A hash of the dataset files' paths, sizes and modification times: cheap (a few `stat`
    calls, nothing read), so a caller can tell whether a dataset changed before opening it."""
    h = hashlib.sha256()
    for f in dataset_files(root):
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:32]


def fingerprint(root: Path, timezone: str) -> str:
    h = hashlib.sha256(f"{ENGINE_VERSION}\0{timezone}\0{files_stamp(root)}".encode())
    return h.hexdigest()[:32]


def read(cache_dir: Path, key: str) -> pa.Table | None:
    """The cached ledger table, or None when there is none or it cannot be read."""
    try:
        with pa.memory_map(str(cache_dir / key / LEDGER_FILE)) as source:
            return ipc.open_file(source).read_all()
    except (OSError, ValueError, pa.ArrowException):
        return None


def write(cache_dir: Path, key: str, table: pa.Table, timezone: str) -> None:
    """Best effort: an unwritable cache only costs speed, never a report."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
    except OSError:
        return
    try:
        # lz4: half zstd's time to write and to read back, for a file twice as large (5 MB).
        options = ipc.IpcWriteOptions(compression="lz4")
        with ipc.new_file(str(tmp / LEDGER_FILE), table.schema, options=options) as out:
            out.write_table(table)
        (tmp / "meta.json").write_text(json.dumps({"timezone": timezone}))
        os.rename(tmp, cache_dir / key)
    except (OSError, pa.ArrowException):
        shutil.rmtree(tmp, ignore_errors=True)
