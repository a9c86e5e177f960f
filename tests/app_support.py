"""Shared pieces of the app tests: one generated organization and readers for chart elements."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
END = date(2026, 11, 24)
SEED = 3


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    """The `small` preset ending on a fixed day, so relative periods are reproducible."""
    import fixtures

    out = tmp_path_factory.mktemp("org") / "small"
    fixtures.generate(out, fixtures.GeneratorConfig.preset("small", end=END, seed=SEED))
    return out


@pytest.fixture(scope="session")
def small_ds(small_dataset):
    import metrics

    return metrics.open_dataset(small_dataset, cache_dir=False)


@pytest.fixture
def app_env(monkeypatch, small_dataset, tmp_path, tmp_path_factory):
    """The app on the small organization, allowed to open and write under pytest's temp root."""
    monkeypatch.setenv("AI_CONSOLE_DATASET", str(small_dataset))
    monkeypatch.setenv("AI_CONSOLE_AS_OF", END.isoformat())
    monkeypatch.setenv("AI_CONSOLE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AI_CONSOLE_DATA_ROOTS", str(tmp_path_factory.getbasetemp()))
    monkeypatch.delenv("AI_CONSOLE_DATA", raising=False)
    return small_dataset


def new_app(**query):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=30)
    for k, v in query.items():
        at.query_params[k] = v
    return at


def open_page(page: str, **query):
    """The app started with `query`, then switched to `page` (say "app_pages/data.py")."""
    at = new_app(**query)
    at.run()
    at.switch_page(page).run()
    assert_clean(at)
    return at


def charts(at) -> list:
    return list(at.get("vega_lite_chart"))


def spec(chart) -> dict:
    return json.loads(chart.proto.spec)


def rows(chart) -> pd.DataFrame:
    """The chart's inline data: Streamlit ships each dataset as Arrow IPC bytes."""
    (dataset,) = chart.proto.datasets
    return pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()


def metrics_by_label(at) -> dict[str, object]:
    return {m.label: m for m in at.metric}


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def plain(text: str) -> str:
    """Markdown as a person reads it: the escapes and word joiners of `ui.safety.md` undone."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u2060", "")


def texts(elements) -> list[str]:
    return [plain(e.value) for e in elements]


def record_csvs(monkeypatch) -> list[bytes]:
    """Every CSV the app offers from now on, as the bytes a click on its button downloads
    (a file written on click is written here at once)."""
    import streamlit as st

    written: list[bytes] = []
    offer = st.download_button

    def recorded(label, data, *args, **kwargs):
        written.append(data() if callable(data) else data)
        return offer(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recorded)
    return written
