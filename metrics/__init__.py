"""The metrics of AI adoption and usage: reading, validation, the quota ledger and the answers.

Pure computation: nothing here imports streamlit. The pipeline runs one way, read → validate →
ledger → aggregates → answers (docs/architecture.md).
"""

from metrics.cache import files_stamp
from metrics.dataset import Dataset
from metrics.model import (
    ActiveUsers,
    AtRisk,
    Credits,
    DatasetError,
    Forecast,
    Issue,
    LimitHits,
    Report,
    TeamRow,
    TeamsReport,
    Tool,
)
from metrics.opening import open_dataset, validate
from metrics.periods import Bucket, Granularity, Period, PeriodName, auto_granularity, buckets

__all__ = [
    "ActiveUsers",
    "AtRisk",
    "Bucket",
    "Credits",
    "Dataset",
    "DatasetError",
    "Forecast",
    "Granularity",
    "Issue",
    "LimitHits",
    "Period",
    "PeriodName",
    "Report",
    "TeamRow",
    "TeamsReport",
    "Tool",
    "auto_granularity",
    "buckets",
    "files_stamp",
    "open_dataset",
    "validate",
]
