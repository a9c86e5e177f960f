"""Opening a dataset: the ledger read back from the cache when the files are unchanged, else a
full read, validation and ledger run."""

from __future__ import annotations

from pathlib import Path

from metrics import ledger, loading, reading, store
from metrics.dataset import Dataset
from metrics.model import DatasetError, Issue


def open_dataset(
    path: str | Path,
    *,
    timezone: str | None = None,
    cache_dir: str | Path | None | bool = None,
) -> Dataset:
    """Validate a dataset directory and run its ledger, reusing a cached ledger when one exists.

    `cache_dir=False` disables the disk cache; `None` uses the default location
    (`$AI_CONSOLE_CACHE_DIR`, else the user's cache directory).
    """
    path = Path(path)
    if timezone is not None and not reading.valid_timezone(timezone):
        raise ValueError(f"unknown timezone {timezone!r}")
    cache = None if cache_dir is False else Path(cache_dir or store.default_cache_dir())
    # Stamped before reading: files changed meanwhile can only make a later open miss the cache.
    key = store.fingerprint(path, reading.timezone_of(path, timezone))
    cached = store.read(cache, key) if cache is not None else None
    if cached is not None:
        tables = loading.load_light(path, timezone)
        led = ledger.Ledger.from_table(cached, tables.timezone) if tables else None
        if led is not None:
            return Dataset(path, tables, led, key)
    tables, led = loading.load_then(path, timezone, then=ledger.run)
    if cache is not None:
        store.write(cache, key, led.table(), led.timezone)
    return Dataset(path, tables, led, key)


def validate(path: str | Path, timezone: str | None = None) -> list[Issue]:
    """Every broken rule of the dataset (empty when it is valid), for the Data page."""
    try:
        loading.load(path, timezone)
    except DatasetError as exc:
        return list(exc.issues)
    return []
