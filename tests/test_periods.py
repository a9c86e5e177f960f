"""Predefined periods, automatic granularity and bucket labels (section 4)."""

from datetime import date

import pytest

from metrics import Granularity, Period, PeriodName, auto_granularity, buckets

AS_OF = date(2026, 11, 24)


@pytest.mark.parametrize(
    ("name", "start"),
    [
        ("last-7-days", date(2026, 11, 18)),
        ("last-30-days", date(2026, 10, 26)),
        ("last-3-months", date(2026, 9, 1)),
        ("last-6-months", date(2026, 6, 1)),
        ("last-12-months", date(2025, 12, 1)),
        ("year-to-date", date(2026, 1, 1)),
    ],
)
def test_predefined_periods_end_at_as_of(name, start):
    assert Period.named(name, AS_OF) == Period(start, AS_OF)


def test_months_back_cross_a_year_start():
    assert Period.named(PeriodName.LAST_3_MONTHS, date(2026, 2, 10)).start == date(2025, 12, 1)


def test_all_time_starts_at_the_first_counted_request():
    assert Period.named("all-time", AS_OF, date(2024, 5, 3)) == Period(date(2024, 5, 3), AS_OF)
    assert Period.named("all-time", AS_OF, None) == Period(AS_OF, AS_OF)


@pytest.mark.parametrize(
    ("days", "gran"),
    [
        (1, Granularity.DAY),
        (31, Granularity.DAY),
        (32, Granularity.MONTH),
        (731, Granularity.MONTH),
        (732, Granularity.YEAR),
    ],
)
def test_automatic_granularity_follows_the_length(days, gran):
    start = date(2024, 1, 1)
    end = date.fromordinal(start.toordinal() + days - 1)
    assert auto_granularity(Period(start, end)) is gran


def test_granularities_are_ordered():
    assert Granularity.DAY < Granularity.WEEK < Granularity.MONTH < Granularity.YEAR
    assert sorted([Granularity.YEAR, Granularity.DAY]) == [Granularity.DAY, Granularity.YEAR]


def test_month_buckets_are_labelled_by_their_first_day_even_when_cut():
    bks = buckets(Period(date(2026, 1, 15), date(2026, 3, 10)), Granularity.MONTH)
    assert [b.label for b in bks] == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert [b.first for b in bks] == [date(2026, 1, 15), date(2026, 2, 1), date(2026, 3, 1)]
    assert [b.last for b in bks] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 10)]
    assert [b.partial for b in bks] == [True, False, True]


def test_week_buckets_start_on_monday():
    bks = buckets(Period(date(2026, 1, 1), date(2026, 1, 12)), Granularity.WEEK)
    assert [b.label for b in bks] == [date(2025, 12, 29), date(2026, 1, 5), date(2026, 1, 12)]


def test_previous_period_has_equal_length_and_ends_the_day_before():
    p = Period(date(2026, 3, 1), date(2026, 3, 31))
    assert p.previous() == Period(date(2026, 1, 29), date(2026, 2, 28))


def test_a_period_cannot_end_before_it_starts():
    with pytest.raises(ValueError, match="before its start"):
        Period(date(2026, 3, 2), date(2026, 3, 1))


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("month-to-date", date(2026, 11, 1), AS_OF),
        ("last-month", date(2026, 10, 1), date(2026, 10, 31)),
        ("quarter-to-date", date(2026, 10, 1), AS_OF),
        ("last-quarter", date(2026, 7, 1), date(2026, 9, 30)),
    ],
)
def test_calendar_months_and_quarters(name, start, end):
    assert Period.named(name, AS_OF) == Period(start, end)


def test_last_quarter_and_month_cross_a_year_start():
    assert Period.named("last-quarter", date(2026, 2, 10)) == Period(
        date(2025, 10, 1), date(2025, 12, 31)
    )
    assert Period.named("last-month", date(2026, 1, 1)) == Period(
        date(2025, 12, 1), date(2025, 12, 31)
    )


@pytest.mark.parametrize(
    ("name", "as_of", "start", "end"),
    [
        ("last-month", date(2026, 3, 31), date(2026, 1, 1), date(2026, 1, 31)),  # Feb against Jan
        ("month-to-date", date(2026, 3, 31), date(2026, 2, 1), date(2026, 2, 28)),
        ("month-to-date", date(2026, 11, 24), date(2026, 10, 1), date(2026, 10, 24)),
        ("quarter-to-date", date(2026, 11, 24), date(2026, 7, 1), date(2026, 8, 24)),
        ("last-quarter", date(2026, 1, 5), date(2025, 7, 1), date(2025, 9, 30)),
        ("last-3-months", AS_OF, date(2026, 6, 1), date(2026, 8, 24)),
        ("year-to-date", AS_OF, date(2025, 1, 1), date(2025, 11, 24)),
        ("last-30-days", AS_OF, date(2026, 9, 26), date(2026, 10, 25)),
    ],
)
def test_deltas_compare_with_the_previous_period_of_the_same_kind(name, as_of, start, end):
    kind = PeriodName(name)
    assert kind.previous(Period.named(kind, as_of)) == Period(start, end)


def test_every_period_has_a_label_for_people():
    labels = [p.label for p in PeriodName]
    assert "This month" in labels and "Last quarter" in labels and "Last 12 months" in labels
    assert len(set(labels)) == len(labels)
