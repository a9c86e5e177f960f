"""Opening a dataset: the ledger read back from the cache when the files are unchanged, else a
full read, validation and ledger run.

This module, `reading` and `store` import no pandas. On a cold start the requests are already
being read on two threads when the pandas-based modules are imported, an import that holds a
core for a third of a second which the reading would otherwise wait for; so those modules are
imported inside the functions, after the reading began.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from metrics import reading, store
from metrics.model import DatasetError, Issue

if TYPE_CHECKING:
    from metrics.dataset import Dataset


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
    started = None if cached is not None else reading.begin(path, timezone)
    from metrics import dataset, ledger, loading

    if cached is not None:
        tables = loading.load_light(path, timezone)
        led = ledger.Ledger.from_table(cached, tables.timezone) if tables else None
        if led is not None:
            return dataset.Dataset(path, tables, led, key)
        started = reading.begin(path, timezone)
    tables, led = loading.finish(path, started, then=ledger.run)
    if cache is not None:
        store.write(cache, key, led.table(), led.timezone)
    return dataset.Dataset(path, tables, led, key)


def validate(path: str | Path, timezone: str | None = None) -> list[Issue]:
    """Every broken rule of the dataset (empty when it is valid), for the Data page."""
    from metrics import loading

    try:
        loading.load(path, timezone)
    except DatasetError as exc:
        return list(exc.issues)
    return []
