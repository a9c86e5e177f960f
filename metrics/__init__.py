"""The metrics of AI adoption and usage: loading, the quota ledger and reports.

Pure computation: this package never imports streamlit, and a report never imports pandas. Its
names are imported on first use (PEP 562), so that `python -m metrics` can choose its memory
allocators before numpy and pyarrow load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOMES = {
    "metrics.dataset": ("Dataset",),
    "metrics.opening": ("open_dataset", "validate"),
    "metrics.model": (
        "ActiveUsers",
        "Credits",
        "DatasetError",
        "Issue",
        "LimitHits",
        "Report",
        "Tool",
    ),
    "metrics.periods": (
        "Bucket",
        "Granularity",
        "Period",
        "PeriodName",
        "auto_granularity",
        "buckets",
    ),
    "metrics.store": ("files_stamp",),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}
__all__ = [
    "ActiveUsers",
    "Bucket",
    "Credits",
    "Dataset",
    "DatasetError",
    "Granularity",
    "Issue",
    "LimitHits",
    "Period",
    "PeriodName",
    "Report",
    "Tool",
    "auto_granularity",
    "buckets",
    "files_stamp",
    "open_dataset",
    "validate",
]

if TYPE_CHECKING:
    from metrics.dataset import Dataset
    from metrics.model import ActiveUsers, Credits, DatasetError, Issue, LimitHits, Report, Tool
    from metrics.opening import open_dataset, validate
    from metrics.periods import (
        Bucket,
        Granularity,
        Period,
        PeriodName,
        auto_granularity,
        buckets,
    )
    from metrics.store import files_stamp


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
