"""Opening datasets and answering queries, cached in the app layer only.

The opened `Dataset` (its ledger) is a shared resource keyed by path and a stamp of the
files, so a changed dataset is reopened and an unchanged one never is; every result is cached
by small hashable values, so a filter change costs one aggregation over the ledger at most.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st

import metrics

APP_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = APP_ROOT / "data" / "demo"
ENV_DATA = "AI_CONSOLE_DATA"
ENV_DATASET = "AI_CONSOLE_DATASET"
ENV_AS_OF = "AI_CONSOLE_AS_OF"


def _resolve(raw: str) -> Path:
    return Path(raw).expanduser().resolve()


def configured_dataset() -> Path | None:
    """An existing dataset named by the environment, opened as is and never generated."""
    raw = os.environ.get(ENV_DATASET)
    return _resolve(raw) if raw else None


def demo_dir() -> Path:
    raw = os.environ.get(ENV_DATA)
    return _resolve(raw) if raw else DEFAULT_DATA_DIR


def pinned_today() -> date | None:
    """A fixed 'today' for screenshots and tests, so relative periods stay reproducible."""
    raw = os.environ.get(ENV_AS_OF)
    return date.fromisoformat(raw) if raw else None


def looks_like_dataset(path: Path) -> bool:
    return (path / "users.parquet").is_file()


def stamp(path: str | Path) -> str:
    """Computed on every rerun to notice a changed dataset; lists files, reads nothing."""
    return metrics.files_stamp(Path(path))


@st.cache_resource(max_entries=3, show_spinner="Reading the dataset and its quota ledger…")
def _open(path: str, file_stamp: str) -> metrics.Dataset:
    return metrics.open_dataset(path)


def open_dataset(path: str | Path) -> metrics.Dataset:
    """Raises `metrics.DatasetError`; a failed open is not cached, so a fixed dataset reopens."""
    path = str(_resolve(str(path)))
    return _open(path, stamp(path))


@st.cache_resource
def _generation_lock() -> threading.Lock:
    return threading.Lock()


def ensure_demo(out_dir: Path, progress: Callable[[int, int, str], None] | None = None) -> Path:
    """Generates the demo organization once; concurrent first sessions wait for the first.

    Never forces: a non-empty directory that is not a dataset is somebody's files, and the
    generator's `OutputExistsError` is shown instead of replacing them.
    """
    import fixtures

    with _generation_lock():
        if not looks_like_dataset(out_dir):
            fixtures.generate(out_dir, fixtures.GeneratorConfig.preset("demo"), progress)
    return out_dir


def today(ds: metrics.Dataset) -> date:
    return pinned_today() or ds.today()


# -- cached results: keyed by (path, fingerprint, ...) so any dataset change misses the cache --


def _key(ds: metrics.Dataset) -> tuple[str, str]:
    return str(ds.path), ds.fingerprint


@st.cache_data(max_entries=512, show_spinner=False)
def _report(
    _ds, path: str, fp: str, start: date, end: date, gran: str | None, teams, tools
) -> metrics.Report:
    return _ds.report(metrics.Period(start, end), gran, teams, tools)


def report(ds, period: metrics.Period, gran, teams=(), tools=()) -> metrics.Report:
    gran = gran.value if isinstance(gran, metrics.Granularity) else gran
    return _report(
        ds, *_key(ds), period.start, period.end, gran, tuple(sorted(teams)), _tools(tools)
    )


def _tools(tools) -> tuple[str, ...]:
    return tuple(sorted(metrics.Tool(t).value for t in tools))


@st.cache_data(max_entries=256, show_spinner=False)
def _bucket_users(_ds, path: str, fp: str, first: date, last: date, teams, tools) -> pd.DataFrame:
    return _ds.bucket_users(first, last, teams, tools)


def bucket_users(ds, first: date, last: date, teams=(), tools=()) -> pd.DataFrame:
    return _bucket_users(ds, *_key(ds), first, last, tuple(sorted(teams)), _tools(tools))


@st.cache_data(max_entries=64, show_spinner=False)
def _users_overview(_ds, path: str, fp: str, start: date, end: date, teams) -> pd.DataFrame:
    return _ds.users_overview(metrics.Period(start, end), teams)


def users_overview(ds, period: metrics.Period, teams=()) -> pd.DataFrame:
    return _users_overview(ds, *_key(ds), period.start, period.end, tuple(sorted(teams)))


@st.cache_data(max_entries=16, show_spinner=False)
def _validate(path: str, file_stamp: str) -> list[metrics.Issue]:
    return metrics.validate(path)


def validate(path: str | Path) -> list[metrics.Issue]:
    path = str(_resolve(str(path)))
    return _validate(path, stamp(path))
