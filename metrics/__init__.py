"""The metrics of AI adoption and usage: loading, the quota ledger and reports.

Pure computation: this package never imports streamlit.
"""

from metrics.dataset import Dataset, open_dataset, validate
from metrics.model import (
    ActiveUsers,
    Credits,
    DatasetError,
    Issue,
    LimitHits,
    Report,
    Tool,
)
from metrics.periods import Bucket, Granularity, Period, PeriodName, auto_granularity, buckets
from metrics.store import files_stamp

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
