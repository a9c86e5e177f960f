"""Periods, granularities and buckets (section 4 of the metrics contract).

Everything here works on calendar dates in the organization's timezone; converting instants
to dates is the dataset's job, so these helpers stay pure and trivially testable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta


class Granularity(enum.Enum):
    """Bucket size, ordered from finest to coarsest so that `DAY < MONTH` reads naturally."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"

    @property
    def rank(self) -> int:
        return list(Granularity).index(self)

    def __lt__(self, other: Granularity) -> bool:
        if not isinstance(other, Granularity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: Granularity) -> bool:
        if not isinstance(other, Granularity):
            return NotImplemented
        return self.rank <= other.rank

    @property
    def label(self) -> str:
        return self.value.capitalize()

    def floor(self, d: date) -> date:
        """The natural first day of the bucket holding `d`."""
        if self is Granularity.DAY:
            return d
        if self is Granularity.WEEK:
            return d - timedelta(days=d.weekday())
        if self is Granularity.MONTH:
            return d.replace(day=1)
        return date(d.year, 1, 1)

    def next_start(self, start: date) -> date:
        """The first day of the bucket after the one starting at `start`."""
        if self is Granularity.DAY:
            return start + timedelta(days=1)
        if self is Granularity.WEEK:
            return start + timedelta(days=7)
        if self is Granularity.MONTH:
            return add_months(start, 1)
        return date(start.year + 1, 1, 1)


class PeriodName(enum.Enum):
    """The predefined time filters of the product page, by their command-line names."""

    LAST_7_DAYS = "last-7-days"
    LAST_30_DAYS = "last-30-days"
    MONTH_TO_DATE = "month-to-date"
    LAST_MONTH = "last-month"
    QUARTER_TO_DATE = "quarter-to-date"
    LAST_QUARTER = "last-quarter"
    LAST_3_MONTHS = "last-3-months"
    LAST_6_MONTHS = "last-6-months"
    LAST_12_MONTHS = "last-12-months"
    YEAR_TO_DATE = "year-to-date"
    ALL_TIME = "all-time"

    @property
    def label(self) -> str:
        return _PERIOD_LABELS[self]

    def previous(self, period: Period) -> Period:
        """The period a delta compares with: the same kind one step back (last month against
        the month before, this quarter so far against as many days of the quarter before);
        day-counted periods and all time against the equal length just before."""
        back = _MONTH_STEP.get(self)
        if back is None:
            return period.previous()
        start = add_months(period.start, -back)
        end_month = add_months(period.end.replace(day=1), -back)
        if self in (PeriodName.LAST_MONTH, PeriodName.LAST_QUARTER):
            return Period(start, month_end(end_month))
        return Period(
            start,
            min(end_month.replace(day=1) + timedelta(period.end.day - 1), month_end(end_month)),
        )


_PERIOD_LABELS = {
    PeriodName.LAST_7_DAYS: "Last 7 days",
    PeriodName.LAST_30_DAYS: "Last 30 days",
    PeriodName.MONTH_TO_DATE: "This month",
    PeriodName.LAST_MONTH: "Last month",
    PeriodName.QUARTER_TO_DATE: "This quarter",
    PeriodName.LAST_QUARTER: "Last quarter",
    PeriodName.LAST_3_MONTHS: "Last 3 months",
    PeriodName.LAST_6_MONTHS: "Last 6 months",
    PeriodName.LAST_12_MONTHS: "Last 12 months",
    PeriodName.YEAR_TO_DATE: "Year to date",
    PeriodName.ALL_TIME: "All time",
}


def add_months(d: date, months: int) -> date:
    """The first day of the month `months` after the month of `d`."""
    index = d.year * 12 + (d.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def month_end(d: date) -> date:
    return add_months(d, 1) - timedelta(days=1)


def quarter_start(d: date) -> date:
    return date(d.year, (d.month - 1) // 3 * 3 + 1, 1)


@dataclass(frozen=True, order=True)
class Period:
    """An inclusive range of dates in the organization's timezone."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period end {self.end} is before its start {self.start}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of equal length that ends the day before this one starts (for deltas)."""
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.days - 1), end)

    def contains(self, d: date) -> bool:
        return self.start <= d <= self.end

    def to_json(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def named(cls, name: PeriodName | str, as_of: date, first_day: date | None = None) -> Period:
        """A predefined period ending at `as_of`.

        `first_day` is the date of the first counted request, needed only by `all-time`; with no
        counted request at all, `all-time` is the single day `as_of`.
        """
        name = PeriodName(name)
        if name is PeriodName.LAST_7_DAYS:
            return cls(as_of - timedelta(days=6), as_of)
        if name is PeriodName.LAST_30_DAYS:
            return cls(as_of - timedelta(days=29), as_of)
        if name in _MONTHS_BACK:
            return cls(add_months(as_of.replace(day=1), -(_MONTHS_BACK[name] - 1)), as_of)
        if name is PeriodName.YEAR_TO_DATE:
            return cls(date(as_of.year, 1, 1), as_of)
        if name is PeriodName.MONTH_TO_DATE:
            return cls(as_of.replace(day=1), as_of)
        if name is PeriodName.LAST_MONTH:
            start = add_months(as_of, -1)
            return cls(start, month_end(start))
        if name is PeriodName.QUARTER_TO_DATE:
            return cls(quarter_start(as_of), as_of)
        if name is PeriodName.LAST_QUARTER:
            start = add_months(quarter_start(as_of), -3)
            return cls(start, month_end(add_months(start, 2)))
        start = as_of if first_day is None else min(first_day, as_of)
        return cls(start, as_of)


_MONTHS_BACK = {
    PeriodName.LAST_3_MONTHS: 3,
    PeriodName.LAST_6_MONTHS: 6,
    PeriodName.LAST_12_MONTHS: 12,
}
_MONTH_STEP = {
    **_MONTHS_BACK,
    PeriodName.MONTH_TO_DATE: 1,
    PeriodName.LAST_MONTH: 1,
    PeriodName.QUARTER_TO_DATE: 3,
    PeriodName.LAST_QUARTER: 3,
    PeriodName.YEAR_TO_DATE: 12,
}


def auto_granularity(period: Period) -> Granularity:
    n = period.days
    if n <= 31:
        return Granularity.DAY
    if n <= 731:
        return Granularity.MONTH
    return Granularity.YEAR


@dataclass(frozen=True)
class Bucket:
    """One bar: labelled by its natural first day, holding only the days inside the period.

    `partial` marks a bucket whose natural range is cut by the period, such as the running month
    or a month that the period enters on the 15th.
    """

    label: date
    first: date
    last: date
    partial: bool

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def buckets(period: Period, granularity: Granularity) -> tuple[Bucket, ...]:
    out = []
    start = granularity.floor(period.start)
    while start <= period.end:
        nxt = granularity.next_start(start)
        natural_last = nxt - timedelta(days=1)
        first = max(start, period.start)
        last = min(natural_last, period.end)
        out.append(Bucket(start, first, last, partial=(first != start or last != natural_last)))
        start = nxt
    return tuple(out)
