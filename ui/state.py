"""The shared filters and the dataset in use, handed from the entrypoint to the pages.

The filter widgets live in `app.py` and are bound to the URL (`bind="query-params"`), so a
view survives page changes, reloads and being shared; the pages read the resolved values from
here instead of from widgets they do not own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import streamlit as st

import metrics
from metrics import Granularity, Period, PeriodName

CUSTOM = "Custom range"
PERIOD_OPTIONS = [p.label for p in PeriodName] + [CUSTOM]
DEFAULT_PERIOD = PeriodName.LAST_30_DAYS.label
AUTO = "Auto"
GRANULARITY_OPTIONS = [AUTO] + [g.label for g in Granularity]
TOOL_LABELS = {t.label: t for t in metrics.Tool}

_BY_LABEL = {p.label: p for p in PeriodName}
_CTX = "_console_context"


@dataclass(frozen=True)
class Filters:
    period: Period
    period_label: str
    granularity: Granularity
    auto: bool
    teams: tuple[str, ...] = ()

    @property
    def gran_arg(self) -> Granularity | None:
        """`None` lets the metrics pick the contract's automatic granularity."""
        return None if self.auto else self.granularity


@dataclass
class Context:
    path: str | None = None
    dataset: metrics.Dataset | None = None
    today: date | None = None
    filters: Filters | None = None
    issues: tuple[metrics.Issue, ...] = field(default_factory=tuple)


def resolve_period(choice: str, today: date, first_day: date | None, custom) -> Period:
    """The period of a sidebar choice; a half-picked custom range counts as one day."""
    if choice in _BY_LABEL:
        return Period.named(_BY_LABEL[choice], today, first_day)
    if isinstance(custom, date):
        custom = (custom,)
    custom = tuple(custom or ())
    if not custom:
        return Period.named(PeriodName.LAST_30_DAYS, today, first_day)
    start = custom[0]
    end = custom[1] if len(custom) > 1 else start
    return Period(min(start, end), max(start, end))


def resolve_granularity(choice: str | None, period: Period) -> tuple[Granularity, bool]:
    if not choice or choice == AUTO:
        return metrics.auto_granularity(period), True
    return Granularity(choice.lower()), False


def default_custom(today: date) -> tuple[date, date]:
    return today - timedelta(days=29), today


def set_context(ctx: Context) -> None:
    st.session_state[_CTX] = ctx


def context() -> Context:
    return st.session_state.get(_CTX) or Context()


def describe(filters: Filters, dataset: metrics.Dataset) -> str:
    """One line that says what every number on the page is about."""
    from ui.charts import day_range

    p = filters.period
    gran = filters.granularity.value + (" (auto)" if filters.auto else "")
    teams = ", ".join(filters.teams) if filters.teams else "all teams"
    return f"{dataset.name} · {day_range(p.start, p.end)} · by {gran} · {teams}"


def require() -> tuple[metrics.Dataset, Filters]:
    """The open dataset and filters, or a pointer to the Data page when nothing could open."""
    ctx = context()
    if ctx.dataset is None or ctx.filters is None:
        st.warning("No dataset is open yet. Open or generate one on the Data page.")
        st.page_link("app_pages/data.py", label="Go to Data", icon=":material/database:")
        st.stop()
    return ctx.dataset, ctx.filters
