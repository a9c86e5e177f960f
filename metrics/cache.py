"""The ledger kept on disk between processes, so that the next open of the same files is warm.

An entry's key covers what identifies the inputs' content cheaply and safely: each file's path,
size, modification time in nanoseconds, inode and change time, a hash of the small tables'
bytes, the timezone, and a version hashed from the engine's own source files, so a change of
the ledger code can never serve old numbers. Entries are written into a temporary folder and
renamed into place, so a reader never sees half of one and two writers never mix theirs; an
entry that does not read back whole is recomputed and replaced. Old entries are evicted by age
and by total size. Only folders this module made are ever deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from functools import cache
from pathlib import Path

import pyarrow as pa

from metrics import ledger, read

ENTRY = re.compile(r"^[0-9a-f]{32}$")
TEMP = re.compile(r"^\.[0-9a-f]{32}-")
SMALL = ("organization.json", "users.parquet", "licenses.parquet", "topup_limits.parquet")
MAX_AGE_DAYS = 30
MAX_MB = 2048


def default_dir() -> Path:
    env = os.environ.get("AI_CONSOLE_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ai-adoption-console"


@cache
def engine_version() -> str:
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def files_stamp(root: Path) -> str:
    """What the files look like from the outside (a few `stat` calls), for noticing a change."""
    h = hashlib.sha256()
    try:
        for f in read.dataset_files(root):
            st = f.stat()
            fields = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
            h.update(os.fsencode(f.relative_to(root)) + f"\0{fields}\0".encode())
    except OSError:  # unlistable: the open reports why, and such a stamp never repeats
        h.update(os.urandom(16))
    return h.hexdigest()[:32]


def key(root: Path, timezone: str) -> str:
    h = hashlib.sha256(f"{engine_version()}\0{timezone}\0{files_stamp(root)}".encode())
    for name in SMALL:
        if (root / name).is_file():
            try:
                h.update(hashlib.sha256((root / name).read_bytes()).digest())
            except OSError:  # unreadable: reading it reports why; this entry is never used
                h.update(os.urandom(16))
    return h.hexdigest()[:32]


def has(folder: Path | None, key: str) -> bool:
    """Whether an entry is there to try; like `load`, an unreadable cache only costs speed."""
    try:
        return folder is not None and (folder / key / "meta.json").is_file()
    except OSError:
        return False


def load(folder: Path, key: str, add) -> bool:
    """Passes the cached ledger's partitions to `add` (`dataset.Parts.add`), one at a time;
    False when there is no entry or it does not read back whole."""
    entry = folder / key
    try:
        meta = json.loads((entry / "meta.json").read_text())
        for i, rows in enumerate(meta["rows"]):
            table = ledger.saved(entry / f"part-{i}.arrow")
            if table.schema != ledger.SCHEMA or table.num_rows != rows:
                return False
            add(ledger.as_rows(table))
        os.utime(entry / "meta.json")  # eviction goes by last use
        return True
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
        return False


def store(folder: Path, key: str, parts) -> None:
    """Best effort: an unwritable cache costs speed, never an answer."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder))
    except OSError:
        return
    try:
        rows = [ledger.save(tmp / f"part-{i}.arrow", p.load(), "lz4") for i, p in enumerate(parts)]
        (tmp / "meta.json").write_text(json.dumps({"rows": rows}))
        entry = folder / key
        if entry.exists() and not load(folder, key, lambda rows: None):
            shutil.rmtree(entry, ignore_errors=True)  # an entry that does not read back
        os.rename(tmp, entry)
    except (OSError, pa.ArrowException):
        shutil.rmtree(tmp, ignore_errors=True)  # another process's entry won, or the disk is full
    evict(folder)


def evict(folder: Path, max_mb: float | None = None, max_age_days: float | None = None) -> None:
    """Drops entries unused for `max_age_days`, then the least recently used beyond `max_mb`
    (`AI_CONSOLE_CACHE_MAX_MB`, `AI_CONSOLE_CACHE_MAX_AGE_DAYS`); and temporary folders a
    crashed writer left a day ago."""
    max_mb = (
        max_mb if max_mb is not None else float(os.environ.get("AI_CONSOLE_CACHE_MAX_MB", MAX_MB))
    )
    if max_age_days is None:
        max_age_days = float(os.environ.get("AI_CONSOLE_CACHE_MAX_AGE_DAYS", MAX_AGE_DAYS))
    now, entries = time.time(), []
    try:
        for p in folder.iterdir():
            if TEMP.match(p.name) and now - p.stat().st_mtime > 86_400:
                shutil.rmtree(p, ignore_errors=True)
            elif ENTRY.match(p.name) and (p / "meta.json").is_file():
                used = (p / "meta.json").stat().st_mtime
                size = sum(f.stat().st_size for f in p.iterdir())
                entries.append((used, size, p))
    except OSError:
        return
    entries.sort()
    total = sum(size for _, size, _ in entries)
    for used, size, p in entries:
        if now - used > max_age_days * 86_400 or total > max_mb * 2**20:
            shutil.rmtree(p, ignore_errors=True)
            total -= size
