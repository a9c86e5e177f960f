"""Periods, granularities and buckets (section 4 of the metrics contract).

Everything here works on calendar dates in the organization's timezone; turning instants into
dates is the ledger's job, so these helpers stay pure.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from datetime import date, timedelta


def add_months(d: date, months: int) -> date:
    """The first day of the month `months` after the month of `d`."""
    index = d.year * 12 + (d.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def month_end(d: date) -> date:
    return add_months(d, 1) - timedelta(days=1)


@functools.total_ordering
class Granularity(enum.Enum):
    """Bucket size, ordered from finest to coarsest so that `DAY < MONTH` reads naturally."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"

    def __lt__(self, other: Granularity) -> bool:
        order = list(Granularity)
        return order.index(self) < order.index(other)

    @property
    def label(self) -> str:
        return self.value.capitalize()

    def floor(self, d: date) -> date:
        """The natural first day of the bucket holding `d`."""
        return {
            Granularity.DAY: d,
            Granularity.WEEK: d - timedelta(days=d.weekday()),
            Granularity.MONTH: d.replace(day=1),
            Granularity.YEAR: date(d.year, 1, 1),
        }[self]

    def next_start(self, start: date) -> date:
        """The first day of the bucket after the one starting at `start`."""
        if self is Granularity.MONTH:
            return add_months(start, 1)
        if self is Granularity.YEAR:
            return date(start.year + 1, 1, 1)
        return start + timedelta(days=7 if self is Granularity.WEEK else 1)


class PeriodName(enum.Enum):
    """The predefined time filters, by their command-line names, in the order a menu lists them.

    `months_back` says how far back the same kind of period lies, which is what a delta
    compares with (None: an equal number of days back)."""

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
        names = {"month-to-date": "This month", "quarter-to-date": "This quarter"}
        return names.get(self.value, self.value.replace("-", " ").capitalize())

    @property
    def months_back(self) -> int | None:
        return _MONTHS_BACK.get(self)

    def period(self, as_of: date, first_day: date | None = None) -> Period:
        """This period ending at (or, for whole months and quarters, before) `as_of`.

        `first_day` is the date of the first counted request, used only by all time; with no
        counted request at all, all time is the single day `as_of`.
        """
        quarter = date(as_of.year, (as_of.month - 1) // 3 * 3 + 1, 1)
        if self in (PeriodName.LAST_7_DAYS, PeriodName.LAST_30_DAYS):
            return Period(
                as_of - timedelta(days=6 if self is PeriodName.LAST_7_DAYS else 29), as_of
            )
        if self is PeriodName.LAST_MONTH:
            return Period(add_months(as_of, -1), month_end(add_months(as_of, -1)))
        if self is PeriodName.LAST_QUARTER:
            return Period(add_months(quarter, -3), quarter - timedelta(days=1))
        if self is PeriodName.ALL_TIME:
            return Period(as_of if first_day is None else min(first_day, as_of), as_of)
        start = {
            PeriodName.MONTH_TO_DATE: as_of.replace(day=1),
            PeriodName.QUARTER_TO_DATE: quarter,
            PeriodName.YEAR_TO_DATE: date(as_of.year, 1, 1),
        }.get(self) or add_months(as_of, 1 - self.months_back)
        return Period(start, as_of)

    def previous(self, period: Period) -> Period:
        """The period a delta compares with: the same kind one step back (last month against
        the month before, this quarter so far against as many days of the quarter before);
        day-counted periods and all time against the equal length just before."""
        back = self.months_back
        if back is None:
            return period.previous()
        start, end_month = add_months(period.start, -back), add_months(period.end, -back)
        if self in (PeriodName.LAST_MONTH, PeriodName.LAST_QUARTER):
            return Period(start, month_end(end_month))
        return Period(start, min(end_month + timedelta(period.end.day - 1), month_end(end_month)))


_MONTHS_BACK = {
    PeriodName.MONTH_TO_DATE: 1,
    PeriodName.LAST_MONTH: 1,
    PeriodName.QUARTER_TO_DATE: 3,
    PeriodName.LAST_QUARTER: 3,
    PeriodName.LAST_3_MONTHS: 3,
    PeriodName.LAST_6_MONTHS: 6,
    PeriodName.LAST_12_MONTHS: 12,
    PeriodName.YEAR_TO_DATE: 12,
}


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
        """The period of equal length that ends the day before this one starts."""
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.days - 1), end)

    def contains(self, d: date) -> bool:
        return self.start <= d <= self.end

    def to_json(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def named(cls, name: PeriodName | str, as_of: date, first_day: date | None = None) -> Period:
        return PeriodName(name).period(as_of, first_day)


def auto_granularity(period: Period) -> Granularity:
    n = period.days
    return Granularity.DAY if n <= 31 else Granularity.MONTH if n <= 731 else Granularity.YEAR


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
        try:
            natural_last = granularity.next_start(start) - timedelta(days=1)
        except (OverflowError, ValueError):  # the bucket that ends the calendar, 9999-12-31
            natural_last = date.max
        first, last = max(start, period.start), min(natural_last, period.end)
        out.append(Bucket(start, first, last, partial=(first, last) != (start, natural_last)))
        if natural_last == date.max:
            break
        start = natural_last + timedelta(days=1)
    return tuple(out)
