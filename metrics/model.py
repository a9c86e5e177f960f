"""Typed values that cross the public API of `metrics`: tools, results and validation issues.

Credit amounts travel as integer micro-credits and become floats only for display; the JSON of
the command line prints them as exact decimals, so a printed figure is never a rounded float.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from metrics.periods import Bucket, Granularity, Period

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
    def of(cls, raw: str | None) -> Tool:
        try:
            return cls(raw)
        except ValueError:
            return cls.OTHER


_TOOL_LABELS = {
    Tool.JUNIE: "Junie",
    Tool.CLAUDE_AGENT: "Claude Agent",
    Tool.AI_ASSISTANT_CHAT: "AI Assistant chat",
    Tool.OTHER: "Other AI tools",
}


def credits(micro: int) -> float:
    """Micro-credits to credits, rounded to the 6 decimals the contract prints."""
    return round(micro / MICRO, 6)


class Exact(float):
    """Credits made from micro-credits: a float for arithmetic and comparison, which `dumps`
    prints as the exact decimal number of credits."""

    def __new__(cls, micro: int) -> Exact:
        self = super().__new__(cls, credits(micro))
        self.micro = int(micro)
        return self

    def decimal(self) -> str:
        whole, frac = divmod(self.micro, MICRO)
        text = f"{whole}.{frac:06d}".rstrip("0")
        return text + "0" if text.endswith(".") else text


def dumps(value) -> str:
    """`json.dumps` with its default separators, and `Exact` values as exact numbers."""
    if isinstance(value, Exact):
        return value.decimal()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


@dataclass(frozen=True)
class ActiveUsers:
    total: int
    series: tuple[int, ...]


@dataclass(frozen=True)
class Credits:
    """Sums per bucket in micro-credits; the float properties are for display."""

    micro_builtin: tuple[int, ...]
    micro_topup: tuple[int, ...]

    @property
    def micro_total(self) -> tuple[int, ...]:
        return tuple(a + b for a, b in zip(self.micro_builtin, self.micro_topup, strict=True))

    builtin_series = property(lambda self: tuple(map(credits, self.micro_builtin)))
    topup_series = property(lambda self: tuple(map(credits, self.micro_topup)))
    total_series = property(lambda self: tuple(map(credits, self.micro_total)))
    builtin = property(lambda self: credits(sum(self.micro_builtin)))
    topup = property(lambda self: credits(sum(self.micro_topup)))
    total = property(lambda self: credits(sum(self.micro_total)))

    def sums_json(self) -> dict:
        b, t = sum(self.micro_builtin), sum(self.micro_topup)
        return {"builtin": Exact(b), "topup": Exact(t), "total": Exact(b + t)}


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
    teams: frozenset[str | None] = frozenset()
    tools: frozenset[Tool] = frozenset()

    def to_json(self) -> dict:
        """The object of section 6; `dumps` prints it."""
        c, h = self.credits, self.limit_hits
        return {
            "timezone": self.timezone,
            **self.period.to_json(),
            "granularity": self.granularity.value,
            "buckets": [b.label.isoformat() for b in self.buckets],
            "active_users": {
                "total": self.active_users.total,
                "series": [*self.active_users.series],
            },
            "credits": {
                **c.sums_json(),
                "series": {
                    k: [Exact(v) for v in getattr(c, f"micro_{k}")]
                    for k in ("builtin", "topup", "total")
                },
            },
            "limit_hits": {
                "users": h.users,
                "peak_daily_users": h.peak_daily_users,
                "peak_day": h.peak_day.isoformat() if h.peak_day else None,
                "series": list(h.series),
            },
        }

    def frame(self):
        """One row per bucket, the shape that charts and CSV downloads use."""
        import pandas as pd

        b = self.buckets
        return pd.DataFrame(
            {
                "bucket": [pd.Timestamp(x.label) for x in b],
                "first_day": [pd.Timestamp(x.first) for x in b],
                "last_day": [pd.Timestamp(x.last) for x in b],
                "partial": [x.partial for x in b],
                "active_users": list(self.active_users.series),
                "builtin": list(self.credits.builtin_series),
                "topup": list(self.credits.topup_series),
                "total": list(self.credits.total_series),
                "limit_hit_users": list(self.limit_hits.series),
            }
        )


@dataclass(frozen=True)
class TeamRow:
    """Section 9's figures for one team (None: the users without a team) or the organization."""

    team: str | None
    licensed_users: int
    active_users: int
    licensed_active_users: int
    credits: Credits  # one bucket: the whole period
    limit_hit_users: int

    @property
    def adoption(self) -> float | None:
        """The exact share rounded half to even, as `round` does: rounding the float share
        instead gave 0.0187 for 3 of 160 (0.01875), whose nearest double lies below the tie."""
        if not self.licensed_users:
            return None
        return float(round(Fraction(self.licensed_active_users, self.licensed_users), 4))

    def to_json(self, with_team: bool = True) -> dict:
        return {
            **({"team": self.team} if with_team else {}),
            "licensed_users": self.licensed_users,
            "active_users": self.active_users,
            "adoption": self.adoption,
            "credits": self.credits.sums_json(),
            "limit_hit_users": self.limit_hit_users,
        }


@dataclass(frozen=True)
class TeamsReport:
    timezone: str
    period: Period
    organization: TeamRow
    teams: tuple[TeamRow, ...]

    def to_json(self) -> dict:
        return {
            "timezone": self.timezone,
            **self.period.to_json(),
            "organization": self.organization.to_json(with_team=False),
            "teams": [t.to_json() for t in self.teams],
        }


@dataclass(frozen=True)
class AtRisk:
    """An open license expected to reach its allowance before its quota period ends."""

    user_id: str
    license_id: str
    period_end: date
    spent: int  # micro-credits, as of now
    allowance: int
    projected_hit_day: date

    def to_json(self) -> dict:
        out = {k: v.isoformat() if isinstance(v, date) else v for k, v in vars(self).items()}
        return {**out, "spent": Exact(self.spent), "allowance": Exact(self.allowance)}


@dataclass(frozen=True)
class Forecast:
    """Section 10: who is expected to run out before the reset, and the month's top-up."""

    timezone: str
    as_of: date
    at_risk: tuple[AtRisk, ...]
    month: date
    topup_spent: int  # micro-credits of the month through as_of
    topup_projected: int  # micro-credits expected for the whole month

    def to_json(self) -> dict:
        month = {"month": self.month.isoformat(), "spent": Exact(self.topup_spent)}
        return {
            "timezone": self.timezone,
            "as_of": self.as_of.isoformat(),
            "at_risk": [r.to_json() for r in self.at_risk],
            "topup_month": {**month, "projected": Exact(self.topup_projected)},
        }


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
