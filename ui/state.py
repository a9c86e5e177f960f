"""The shared filters and the dataset in use, handed from the entrypoint to the pages.

The filter widgets live in `app.py` and are bound to the URL (`bind="query-params"`), so a
view survives page changes, reloads and being shared; the pages read the resolved values from
here instead of from widgets they do not own. What no widget holds (the open dataset, a
clicked bar) is kept in the URL by `url_value`/`set_url_value`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import streamlit as st

import metrics
from metrics import Granularity, Period, PeriodName
from ui import cost, safety

CUSTOM = "Custom range"
# Rolling windows, then calendar periods, then the long ones; a name the engine adds later
# still shows up, before "All time".
_ORDER = [
    PeriodName.LAST_7_DAYS,
    PeriodName.LAST_30_DAYS,
    PeriodName.MONTH_TO_DATE,
    PeriodName.LAST_MONTH,
    PeriodName.QUARTER_TO_DATE,
    PeriodName.LAST_QUARTER,
    PeriodName.YEAR_TO_DATE,
    PeriodName.LAST_3_MONTHS,
    PeriodName.LAST_6_MONTHS,
    PeriodName.LAST_12_MONTHS,
]
PERIOD_NAMES = (
    _ORDER
    + [p for p in PeriodName if p not in _ORDER and p is not PeriodName.ALL_TIME]
    + [PeriodName.ALL_TIME]
)
PERIOD_OPTIONS = [p.label for p in PERIOD_NAMES] + [CUSTOM]
DEFAULT_PERIOD = PeriodName.LAST_30_DAYS.label
AUTO = "Auto"
GRANULARITY_OPTIONS = [AUTO] + [g.label for g in Granularity]
TOOL_LABELS = {t.label: t for t in metrics.Tool}
NO_TEAM = "No team"

_BY_LABEL = {p.label: p for p in PeriodName}
_CTX = "_console_context"
_URL_MEMORY = "_url_memory"


@dataclass(frozen=True)
class Filters:
    period: Period
    period_label: str
    teams: tuple[str | None, ...] = ()
    price: cost.Price = cost.Price()

    @property
    def period_name(self) -> PeriodName | None:
        return _BY_LABEL.get(self.period_label)

    @property
    def previous(self) -> Period:
        """What deltas compare with: the period of the same kind just before (last month
        against the month before); a custom range against as many days just before it."""
        name = self.period_name
        return name.previous(self.period) if name else self.period.previous()


@dataclass
class Context:
    path: str | None = None
    dataset: metrics.Dataset | None = None
    today: date | None = None
    filters: Filters | None = None
    issues: tuple[metrics.Issue, ...] = field(default_factory=tuple)
    message: str | None = None


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


def team_label(team: str | None, teams=()) -> str:
    """How a team reads in filters and captions; the users without one read as "No team"
    (or, should a real team bear that name, as something no team is called)."""
    if team is not None:
        return team
    return NO_TEAM if NO_TEAM not in teams else f"{NO_TEAM} (none set)"


def team_options(ds: metrics.Dataset) -> list[str | None]:
    """Every team, then `None` when some users have no team, so "select all" keeps them."""
    options: list[str | None] = list(ds.teams)
    if ds.users["team"].isna().any():
        options.append(None)
    return options


def set_context(ctx: Context) -> None:
    st.session_state[_CTX] = ctx


def context() -> Context:
    return st.session_state.get(_CTX) or Context()


def url_value(key: str) -> str | None:
    """A URL parameter no widget owns. Streamlit drops such parameters when the page changes,
    so the last value is remembered and put back; a reload is a new session and reads the URL.
    """
    memory = st.session_state.setdefault(_URL_MEMORY, {})
    value = st.query_params.get(key)
    if value is None and key in memory:
        value = memory[key]
        st.query_params[key] = value
    memory[key] = value
    if value is None:
        memory.pop(key, None)
    return value


def set_url_value(key: str, value: str | None) -> None:
    memory = st.session_state.setdefault(_URL_MEMORY, {})
    if value is None:
        memory.pop(key, None)
        if key in st.query_params:
            del st.query_params[key]
    else:
        memory[key] = value
        st.query_params[key] = value


def teams_text(teams, all_teams=()) -> str:
    if not teams:
        return "all teams"
    if len(teams) > 4:
        return f"{len(teams)} teams"
    return ", ".join(team_label(t, all_teams) for t in teams)


def describe(filters: Filters, dataset: metrics.Dataset, by: str | None = None) -> str:
    """One line that says what every number on the page is about (Markdown, data escaped)."""
    from ui.charts import day_range

    p = filters.period
    parts = [dataset.name, day_range(p.start, p.end)]
    if by:
        parts.append(by)
    parts.append(teams_text(filters.teams, dataset.teams))
    return " · ".join(safety.md(x) for x in parts)


def require() -> tuple[metrics.Dataset, Filters]:
    """The open dataset and filters, or a pointer to the Data page when nothing could open."""
    ctx = context()
    if ctx.dataset is None or ctx.filters is None:
        st.warning("No dataset is open yet. Open or generate one on the Data page.")
        st.page_link("app_pages/data.py", label="Go to Data", icon=":material/database:")
        st.stop()
    return ctx.dataset, ctx.filters


def unbound_params() -> dict[str, str]:
    """The URL's parameters that no widget holds and that make the view (the dataset), for
    `st.switch_page`, which may not set a widget's parameter: the bound widgets carry theirs."""
    return {k: st.query_params[k] for k in ("dataset",) if k in st.query_params}
