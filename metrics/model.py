"""Typed values that cross the public API of `metrics` (results, tools, validation issues).

Light on purpose: a report never imports pandas, so it is imported only by `Report.frame`, the
one place here that builds a frame.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from metrics.periods import Bucket, Granularity, Period

if TYPE_CHECKING:
    import pandas as pd

MICRO = 1_000_000
EXCLUDED_TOOLS = frozenset({"code_completion", "next_edit_suggestion"})


class Tool(enum.Enum):
    """The tool groups of the product page; every unknown tool value falls into OTHER."""

    JUNIE = "junie"
    CLAUDE_AGENT = "claude_agent"
    AI_ASSISTANT_CHAT = "ai_assistant_chat"
    OTHER = "other"

    @property
    def code(self) -> int:
        return list(Tool).index(self)

    @property
    def label(self) -> str:
        return _TOOL_LABELS[self]

    @classmethod
    def of(cls, raw: str) -> Tool:
        try:
            tool = cls(raw)
        except ValueError:
            return cls.OTHER
        return tool


_TOOL_LABELS = {
    Tool.JUNIE: "Junie",
    Tool.CLAUDE_AGENT: "Claude Agent",
    Tool.AI_ASSISTANT_CHAT: "AI Assistant chat",
    Tool.OTHER: "Other AI tools",
}


def credits(micro: int) -> float:
    """Micro-credits to credits, rounded to the 6 decimals the contract prints."""
    return round(micro / MICRO, 6)


@dataclass(frozen=True)
class ActiveUsers:
    total: int
    series: tuple[int, ...]


@dataclass(frozen=True)
class Credits:
    builtin: float
    topup: float
    total: float
    builtin_series: tuple[float, ...]
    topup_series: tuple[float, ...]
    total_series: tuple[float, ...]


@dataclass(frozen=True)
class LimitHits:
    users: int
    peak_daily_users: int
    peak_day: date | None
    series: tuple[int, ...]


@dataclass(frozen=True)
class Report:
    """The three metrics of section 5 for one period, granularity and filter."""

    timezone: str
    period: Period
    granularity: Granularity
    buckets: tuple[Bucket, ...]
    active_users: ActiveUsers
    credits: Credits
    limit_hits: LimitHits
    teams: frozenset[str] = frozenset()
    tools: frozenset[Tool] = frozenset()

    @property
    def is_empty(self) -> bool:
        """No counted request in the period: the app shows an empty state instead of axes."""
        return self.active_users.total == 0

    def to_json(self) -> dict:
        """The exact object of section 6 of the contract."""
        c = self.credits
        h = self.limit_hits
        return {
            "timezone": self.timezone,
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "granularity": self.granularity.value,
            "buckets": [b.label.isoformat() for b in self.buckets],
            "active_users": {
                "total": self.active_users.total,
                "series": list(self.active_users.series),
            },
            "credits": {
                "builtin": c.builtin,
                "topup": c.topup,
                "total": c.total,
                "series": {
                    "builtin": list(c.builtin_series),
                    "topup": list(c.topup_series),
                    "total": list(c.total_series),
                },
            },
            "limit_hits": {
                "users": h.users,
                "peak_daily_users": h.peak_daily_users,
                "peak_day": h.peak_day.isoformat() if h.peak_day else None,
                "series": list(h.series),
            },
        }

    def frame(self) -> pd.DataFrame:
        """One row per bucket, the shape that charts and CSV downloads use."""
        import pandas as pd

        return pd.DataFrame(
            {
                "bucket": [pd.Timestamp(b.label) for b in self.buckets],
                "first_day": [pd.Timestamp(b.first) for b in self.buckets],
                "last_day": [pd.Timestamp(b.last) for b in self.buckets],
                "partial": [b.partial for b in self.buckets],
                "active_users": list(self.active_users.series),
                "builtin": list(self.credits.builtin_series),
                "topup": list(self.credits.topup_series),
                "total": list(self.credits.total_series),
                "limit_hit_users": list(self.limit_hits.series),
            }
        )


@dataclass(frozen=True)
class Issue:
    """One broken rule of the dataset format, with enough detail to fix the file."""

    file: str
    column: str | None
    rule: str
    rows: int
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"{self.file}, column {self.column!r}" if self.column else self.file
        text = f"{where}: {self.rule}"
        if self.rows:
            text += f" ({self.rows} row{'s' if self.rows != 1 else ''}"
            if self.examples:
                text += ", e.g. " + ", ".join(self.examples)
            text += ")"
        return text


class DatasetError(Exception):
    """A dataset broke rules of section 1; nothing of it was loaded."""

    def __init__(self, path: str, issues: list[Issue]):
        self.path = path
        self.issues = tuple(issues)
        lines = [f"dataset {path} was rejected:"] + [f"  - {i}" for i in self.issues]
        super().__init__("\n".join(lines))
