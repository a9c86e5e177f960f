"""Opening datasets and answering queries, cached in the app layer only.

The opened `Dataset` (its ledger) is a shared resource keyed by path and a stamp of the
files, so a changed dataset is reopened and an unchanged one never is; every result is cached
by small hashable values, so a filter change costs one aggregation over the ledger at most.

Every path a person types goes through the data roots of `ui.safety` first, and every way a
dataset can fail to open ends as a `CannotOpen` with a sentence for that person.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

import metrics
from ui import safety

APP_ROOT = safety.APP_ROOT
DEFAULT_DATA_DIR = APP_ROOT / "data" / "demo"
ENV_DATA = "AI_CONSOLE_DATA"
ENV_DATASET = "AI_CONSOLE_DATASET"
ENV_AS_OF = "AI_CONSOLE_AS_OF"
ENV_MEMORY = "AI_CONSOLE_APP_MEMORY_MB"
MIN_MEMORY = 2 << 30
MAX_OPEN = 3


class CannotOpen(Exception):
    """A dataset that did not open, with what to tell the person and the broken rules, if any."""

    def __init__(self, message: str, issues: Iterable[metrics.Issue] = ()):
        super().__init__(message)
        self.message = message
        self.issues = tuple(issues)


def configured_dataset() -> Path | None:
    """An existing dataset named by the environment, opened as is and never generated."""
    raw = os.environ.get(ENV_DATASET)
    return safety.resolve(raw) if raw else None


def demo_dir() -> Path:
    raw = os.environ.get(ENV_DATA)
    return (safety.resolve(raw) or DEFAULT_DATA_DIR) if raw else DEFAULT_DATA_DIR


def default_dataset() -> Path:
    """What a link without `dataset=` shows: the configured dataset, else the demo."""
    return configured_dataset() or demo_dir()


def _named_at_start() -> list[Path]:
    """Folders the person who started the app named, allowed wherever they are."""
    return [p for p in (configured_dataset(), demo_dir()) if p is not None]


def allowed(raw: str | os.PathLike) -> Path | None:
    return safety.allowed_path(raw, _named_at_start())


def no_such_folder(raw: str | os.PathLike) -> str:
    """The one answer for a folder that is missing and for one the app may not open."""
    return (
        f"No such folder: {safety.md(raw)}. The app opens and writes datasets only inside "
        f"{safety.md(safety.roots_text())}."
    )


def pinned_today() -> date | None:
    """A fixed 'today' for screenshots and tests, so relative periods stay reproducible."""
    raw = os.environ.get(ENV_AS_OF)
    return date.fromisoformat(raw) if raw else None


def looks_like_dataset(path: Path) -> bool:
    return (path / "users.parquet").is_file()


def stamp(path: str | Path) -> str:
    """Computed on every rerun to notice a changed dataset; lists files, reads nothing."""
    return metrics.files_stamp(Path(path))


def app_memory() -> int:
    """Bytes the engine may hold for the app (`AI_CONSOLE_APP_MEMORY_MB`): the ledger stays in
    memory up to a quarter of it less 512 MB, and beyond that every answer re-reads temporary
    files, which no filter change could afford. By default half of the machine's memory, at
    least 2 GB."""
    raw = os.environ.get(ENV_MEMORY)
    if raw:
        try:
            mb = float(raw)
        except ValueError:
            mb = float("nan")
        if not mb >= 64 or mb == float("inf"):
            raise CannotOpen(
                f"{ENV_MEMORY} must be a number of megabytes, 64 or more, not {safety.md(raw)}."
            )
        return int(mb * 2**20)
    try:
        machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        machine = 0
    return max(MIN_MEMORY, machine // 2)


class _Opening:
    """One dataset being opened on a thread of its own, so that every session waiting for it
    can draw the progress the engine reports (from its own worker threads)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.progress: tuple[int, int, str] | None = None
        self.result: metrics.Dataset | None = None
        self.error: BaseException | None = None

    def report(self, done: int, total: int, label: str) -> None:
        self.progress = (done, total, label)


class _Datasets:
    """The opened datasets, shared by every session: at most `MAX_OPEN`, the most recently
    used kept, and a newer stamp of a folder replacing the older. A failed open is not kept,
    so a fixed dataset reopens."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.opened: OrderedDict[tuple[str, str], metrics.Dataset] = OrderedDict()
        self.opening: dict[tuple[str, str], _Opening] = {}

    def get(self, path: str, file_stamp: str, memory: int) -> metrics.Dataset | _Opening:
        key = (path, file_stamp)
        with self.lock:
            if key in self.opened:
                self.opened.move_to_end(key)
                return self.opened[key]
            job = self.opening.get(key)
            if job is None:
                job = self.opening[key] = _Opening()
                threading.Thread(
                    target=self._open, args=(key, job, memory), daemon=True, name="open-dataset"
                ).start()
            return job

    def _open(self, key: tuple[str, str], job: _Opening, memory: int) -> None:
        try:
            ds = metrics.open_dataset(key[0], memory=memory, progress=job.report)
        except BaseException as exc:  # noqa: BLE001 - handed to the sessions that wait
            job.error = exc
        else:
            job.result = ds
            with self.lock:
                for other in [k for k in self.opened if k[0] == key[0]]:
                    del self.opened[other]
                self.opened[key] = ds
                while len(self.opened) > MAX_OPEN:
                    self.opened.popitem(last=False)
        finally:
            with self.lock:
                self.opening.pop(key, None)
            job.done.set()


@st.cache_resource
def _datasets() -> _Datasets:
    return _Datasets()


def _wait(job: _Opening, path: str) -> metrics.Dataset:
    """Waits for an open, with a progress bar while the engine reads the requests and folds
    the ledger (a first open of a large organization), and nothing for a quick one."""
    slot = st.empty()
    try:
        shown = False
        while not job.done.wait(0.25):
            done, total, label = job.progress or (0, 1, "reading the tables")
            text = (
                f"Opening {safety.md(Path(path).name)}: {safety.md(label)} ({done:,} of {total:,})"
            )
            if job.progress is None:
                text = f"Opening {safety.md(Path(path).name)}: reading the tables and the ledger"
            slot.progress(min(done / max(total, 1), 1.0), text=text)
            shown = True
        if shown:
            slot.empty()
    except BaseException:
        slot.empty()
        raise
    if job.error is not None:
        raise job.error
    assert job.result is not None
    return job.result


def open_dataset(raw: str | Path) -> metrics.Dataset:
    """Raises `CannotOpen`; a failed open is not cached, so a fixed dataset reopens."""
    path = allowed(raw)
    if path is None or not path.is_dir():
        raise CannotOpen(no_such_folder(raw))
    memory = app_memory()
    try:
        found = _datasets().get(str(path), stamp(path), memory)
        return found if isinstance(found, metrics.Dataset) else _wait(found, str(path))
    except metrics.DatasetError as exc:
        n = len(exc.issues)
        raise CannotOpen(
            f"{safety.md(path)} is not a dataset the app can read: it breaks {n} "
            f"rule{'s' if n != 1 else ''} of the data format.",
            exc.issues,
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a message, not a traceback
        raise CannotOpen(f"{safety.md(path)} could not be read: {safety.md(exc)}") from exc


@st.cache_resource
def _generation_lock() -> threading.Lock:
    return threading.Lock()


def ensure_demo(out_dir: Path, progress: Callable[[int, int, str], None] | None = None) -> Path:
    """Generates the demo organization once; concurrent first sessions wait for the first.

    Never replaces: a non-empty directory that is not a dataset is somebody's files, and the
    generator's `OutputExistsError` is shown instead of replacing them.
    """
    import fixtures

    with _generation_lock():
        if not looks_like_dataset(out_dir):
            fixtures.generate(out_dir, fixtures.GeneratorConfig.preset("demo"), progress)
            safety.mark_generated(out_dir)
    return out_dir


class CannotGenerate(Exception):
    """A generation refused before anything was written, said for a person."""


def generation_target(raw: str, replace: bool) -> Path:
    """Where a generated dataset may go: under a data root, and never over anybody's files.

    Only a folder holding the marker of an earlier generation is ever replaced, and only when
    the person asked for it.
    """
    path = allowed(raw)
    if path is None:
        raise CannotGenerate(
            f"Cannot write to {safety.md(raw)}: the app writes datasets only inside "
            f"{safety.md(safety.roots_text())}."
        )
    if path.exists() and not path.is_dir():
        raise CannotGenerate(f"{safety.md(path)} is a file, not a folder. Choose another folder.")
    if safety.holds_files(path):
        if not safety.is_generated(path):
            raise CannotGenerate(
                f"{safety.md(path)} already holds files that this app did not create, so it "
                "will not touch them. Choose an empty or new folder."
            )
        if not replace:
            raise CannotGenerate(
                f"{safety.md(path)} holds a dataset this app generated earlier. Tick "
                "**Replace a dataset generated here before** to overwrite it, or choose "
                "another folder."
            )
    return path


def generate(target: Path, config, progress, replace: bool):
    """Writes a dataset and marks it as the app's, so that only it may be replaced later."""
    import fixtures

    summary = fixtures.generate(target, config, progress, force=replace)
    safety.mark_generated(Path(summary.out_dir))
    return summary


def today(ds: metrics.Dataset) -> date:
    return pinned_today() or datetime.now(ZoneInfo(ds.timezone)).date()


def path_of(ds: metrics.Dataset) -> Path:
    """The folder a dataset was opened from (the one place the app reads it off a Dataset)."""
    return Path(ds.path)


def team_key(team: str | None) -> tuple[bool, str]:
    """Sorts team names with `None` (the users without a team) last."""
    return (team is None, team or "")


def _teams(teams) -> tuple[str | None, ...]:
    return tuple(sorted(set(teams), key=team_key))


# -- cached results: keyed by (path, fingerprint, ...) so any dataset change misses the cache --


def _key(ds: metrics.Dataset) -> tuple[str, str]:
    return str(path_of(ds)), ds.fingerprint


@st.cache_data(max_entries=512, show_spinner=False)
def _report(
    _ds, path: str, fp: str, start: date, end: date, gran: str | None, teams, tools
) -> metrics.Report:
    return _ds.report(metrics.Period(start, end), gran, teams, tools)


def report(ds, period: metrics.Period, gran, teams=(), tools=()) -> metrics.Report:
    gran = gran.value if isinstance(gran, metrics.Granularity) else gran
    return _report(ds, *_key(ds), period.start, period.end, gran, _teams(teams), _tools(tools))


def _tools(tools) -> tuple[str, ...]:
    return tuple(sorted(metrics.Tool(t).value for t in tools))


@st.cache_data(max_entries=256, show_spinner=False)
def _bucket_users(_ds, path: str, fp: str, first: date, last: date, teams, tools) -> pd.DataFrame:
    return _ds.bucket_users(first, last, teams, tools)


def bucket_users(ds, first: date, last: date, teams=(), tools=()) -> pd.DataFrame:
    return _bucket_users(ds, *_key(ds), first, last, _teams(teams), _tools(tools))


@st.cache_data(max_entries=64, show_spinner=False)
def _users_table(_ds, path: str, fp: str, start: date, end: date, teams) -> pd.DataFrame:
    return _ds.users_overview(metrics.Period(start, end), teams)


def users_table(ds, period: metrics.Period, teams=()) -> pd.DataFrame:
    """One row per user of the teams; period use plus the standing of their fullest license."""
    return _users_table(ds, *_key(ds), period.start, period.end, _teams(teams))


@st.cache_data(max_entries=128, show_spinner=False)
def _by_team(_ds, path: str, fp: str, start: date, end: date) -> metrics.TeamsReport:
    return _ds.by_team(metrics.Period(start, end))


def by_team(ds, period: metrics.Period) -> metrics.TeamsReport:
    """Section 9: every team side by side, and the organization, for the period."""
    return _by_team(ds, *_key(ds), period.start, period.end)


# A forecast is immutable and lists thousands of licenses on a large organization: shared as
# it is (`cache_resource`) instead of unpickled on every rerun (`cache_data`).
@st.cache_resource(max_entries=32, show_spinner=False)
def _forecast(_ds, path: str, fp: str, as_of: date, teams) -> metrics.Forecast:
    return _ds.forecast(as_of, teams)


def forecast(ds, as_of: date, teams=()) -> metrics.Forecast:
    """Section 10, as of the app's today: who runs out before the reset, the month's top-up."""
    return _forecast(ds, *_key(ds), as_of, _teams(teams))


def at_risk(ds, as_of: date, teams=()) -> tuple[metrics.AtRisk, ...]:
    """The licenses expected to run out, of the teams' users: the organization's forecast
    narrowed here, because the engine narrows exactly so (a team changes only which licenses
    are listed) and one forecast takes seconds on 100,000 users, too long for every team
    filter the main page's summary line meets."""
    found = _at_risk(ds, *_key(ds), as_of, _teams(teams))
    _forecasts_made().add((*_key(ds), as_of))
    return found


@st.cache_resource
def _forecasts_made() -> set[tuple[str, str, date]]:
    return set()


def has_forecast(ds, as_of: date) -> bool:
    """Whether this server has made the organization's forecast as of `as_of` (for any
    session), so that a team's line is a quick narrowing of what the forecast cache holds."""
    return (*_key(ds), as_of) in _forecasts_made()


@st.cache_resource(max_entries=64, show_spinner=False)
def _at_risk(_ds, path: str, fp: str, as_of: date, teams) -> tuple[metrics.AtRisk, ...]:
    found = _forecast(_ds, path, fp, as_of, ()).at_risk
    mask = _ds.team_mask(teams)
    if mask is None:
        return found
    keep = set(_ds.users["user_id"][mask])
    return tuple(r for r in found if r.user_id in keep)


@st.cache_data(max_entries=64, show_spinner=False)
def _seats(_ds, path: str, fp: str, as_of: date, teams) -> pd.DataFrame:
    return _ds.seats(as_of, teams)


def seats(ds, as_of: date, teams=()) -> pd.DataFrame:
    """Per user: licensed now, requests and last active day so far, allowance used in the last
    whole quota period (`share`, `band`)."""
    return _seats(ds, *_key(ds), as_of, _teams(teams))


@st.cache_data(max_entries=16, show_spinner=False)
def _validate(path: str, file_stamp: str) -> list[metrics.Issue]:
    return metrics.validate(path)


def validate(raw: str | Path) -> list[metrics.Issue]:
    """Every broken rule of the dataset at `raw`; raises `CannotOpen` when it is no folder the
    app may read, or when reading it failed outside the data format's rules."""
    path = allowed(raw)
    if path is None or not path.is_dir():
        raise CannotOpen(no_such_folder(raw))
    try:
        return _validate(str(path), stamp(path))
    except Exception as exc:  # noqa: BLE001 - an unreadable folder is a message
        raise CannotOpen(f"{safety.md(path)} could not be read: {safety.md(exc)}") from exc
