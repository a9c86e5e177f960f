"""Rendering pieces shared by the pages: metrics with deltas, empty states, user tables."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import date

import altair as alt
import pandas as pd
import streamlit as st

from ui import safety
from ui.charts import day_range
from ui.state import NO_TEAM

INT = "%,d"
NO_USERS = "None of the chosen teams has users."
# What a table cell without a value shows (a user never active, without a license), instead of
# Streamlit's "None".
MISSING = "—"
CREDITS = "%,.1f"
NO_EARLIER_DATA = "No earlier data"
PARTIAL_EARLIER_DATA = "Earlier data partial"


@dataclass(frozen=True)
class Comparison:
    """Whether deltas mean anything. The earlier period must lie within the data: before its
    first day a dataset says nothing, so a delta there would read a missing past as growth."""

    note: str | None
    text: str

    @property
    def has_data(self) -> bool:
        return self.note is None


def comparison(previous_start: date, previous_end: date, first_day: date | None) -> Comparison:
    if first_day is None:
        return Comparison(NO_EARLIER_DATA, "no counted request at all")
    since = f"data from {day_range(first_day, first_day)}"
    if previous_end < first_day:
        return Comparison(NO_EARLIER_DATA, since)
    if previous_start < first_day:
        return Comparison(PARTIAL_EARLIER_DATA, since)
    return Comparison(None, f"vs {day_range(previous_start, previous_end)}")


def metric(
    label: str,
    value: float,
    previous: float,
    *,
    compare: Comparison,
    fmt: str = INT,
    help: str | None = None,
    delta_color: str = "normal",
    delta_text=None,
) -> None:
    """A sub-metric with its change against the previous period of the same kind, or a
    neutral note when that period is not all within the data. `delta_text` writes the change
    itself (adoption changes by points, not by percent)."""
    if not compare.has_data:
        st.metric(
            label,
            value,
            delta=compare.note,
            delta_color="off",
            delta_arrow="off",
            format=fmt,
            delta_description=compare.text,
            help=help,
        )
        return
    delta = value - previous
    if fmt == CREDITS:
        delta = round(delta, 1)
    if delta_text is not None:
        delta = delta_text(delta)
    st.metric(
        label,
        value,
        delta=delta,
        delta_color=delta_color,
        format=fmt,
        delta_description=compare.text,
        help=help,
    )


class _Unvalidated:
    """An Altair chart that hands Streamlit its Vega-Lite unchecked. The builders' output is
    validated against the schema by the chart tests; checking it again on every rerun costs
    about as much as building the chart."""

    def __init__(self, chart: alt.TopLevelMixin) -> None:
        self.chart = chart

    def to_dict(self, **kwargs) -> dict:
        return self.chart.to_dict(validate=False, **kwargs)


def row(gap: str = "medium", align: str = "top", spread: bool = False):
    """Elements side by side while they fit, the next one on a new line when it does not.
    `st.columns` keeps its columns side by side down to a 640-pixel window, where the sidebar
    leaves the page a few hundred pixels and every label and figure in them was cut off.
    `spread`: the first element at the left edge, the last at the right."""
    return st.container(
        horizontal=True,
        wrap=True,
        gap=gap,
        vertical_alignment=align,
        horizontal_alignment="distribute" if spread else "left",
    )


def altair_chart(chart: alt.TopLevelMixin, **kwargs):
    """`st.altair_chart` without the schema check: Streamlit converts the chart itself (its
    datasets, names and selections), so the element, its key and its `on_select` are exactly
    those of `st.altair_chart(chart)`."""
    return st.altair_chart(_Unvalidated(chart), **kwargs)


def empty_state(what: str, period, first_day, last_day) -> None:
    """Said in words instead of drawing empty axes; the data's span only where the period lies
    wholly outside it, since there it is the reason."""
    if first_day is None:
        span = " The dataset holds no counted request at all."
    elif period.end < first_day or period.start > last_day:
        span = f" The dataset holds counted requests from {day_range(first_day, last_day)}."
    else:
        span = ""
    st.info(f"{what} in {day_range(period.start, period.end)}.{span}", icon=":material/info:")


def show_issues(issues) -> None:
    """Validation issues quote the data (ids, names), so they are shown as literal text."""
    for issue in issues:
        st.error(safety.md(issue), icon=":material/error:")


USER_COLUMNS = {
    "name": st.column_config.TextColumn("User", pinned=True, width="medium"),
    "team": st.column_config.TextColumn("Team", width="medium"),
    "builtin": st.column_config.NumberColumn("Built-in quota", format="%.2f"),
    "topup": st.column_config.NumberColumn("Top-up AI Credits", format="%.2f"),
    "total": st.column_config.NumberColumn("Total AI Credits", format="%.2f"),
    "requests": st.column_config.NumberColumn("Requests", format="%d"),
    "hit_limit": st.column_config.CheckboxColumn("Hit limit"),
    "email": st.column_config.TextColumn("Email"),
}


def users_table(users: pd.DataFrame, key: str, file_name: str, price=None) -> None:
    """The users behind a bar, with a CSV whose text cells cannot run as formulas (and each
    user's AI Credits as an estimate of money at `price`, a `ui.cost.Price`)."""
    st.dataframe(
        users.assign(team=users["team"].fillna(NO_TEAM)),
        column_order=list(USER_COLUMNS),
        column_config=USER_COLUMNS,
        hide_index=True,
        key=table_key(key, users),
        height=table_height(max(len(users), 1), 360),
        placeholder=MISSING,
    )
    csv_button(
        "Users CSV",
        users if price is None else users.assign(**price.estimate_columns(users["total"])),
        file_name,
        key=f"{key}_csv",
    )


def table_height(rows: int, most: int) -> int:
    """Pixels for a table's header and `rows` rows, so a short list has no empty space under
    it, up to `most` pixels, beyond which it scrolls."""
    return min(38 + 35 * rows, most)


def table_key(name: str, frame: pd.DataFrame) -> str:
    """A table's key that changes with what it shows, in its order. Streamlit keeps a table's
    column widths across reruns under one key, so after a filter or sort change in place the
    columns would stay sized for the old first rows, unlike a fresh load of the same view."""
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return f"{name}_{hashlib.blake2b(rows.tobytes(), digest_size=4).hexdigest()}"


def csv_button(label: str, frame, file_name: str, key=None, help=None) -> None:
    """A download of `frame` whose text cells cannot run as formulas in a spreadsheet, or of
    what a function writes (a chart's series). Either is written when the button is clicked,
    so a rerun builds no file: on 100,000 users the table's CSV took seconds on every filter
    change."""
    st.download_button(
        label,
        frame if callable(frame) else functools.partial(safety.csv_bytes, frame),
        file_name=file_name,
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        key=key,
        help=help,
    )


_TRAITS = [
    # label, setting, measured share, part, whole, of what
    ("Users", "users", "users", None, None, ""),
    ("Adoption", "adoption", "adoption", "active_users", "users", "users"),
    ("Hit share", "hit_share", "hit_share", "hit_users", "active_users", "active users"),
    ("Teams", "teams", "teams", "users_without_team", None, "users without a team"),
    (
        "Two licenses",
        "multi_license_share",
        "multi_license_share",
        "multi_license_users",
        "licensed_users",
        "licensed users",
    ),
    ("30-day cycles", "cycle_share", "cycle_share", "cycle_licenses", "licenses", "licenses"),
    ("Top-up limit", "topup_limit", "topup_limit", None, None, ""),
    (
        "Raised after a hit",
        "raise_after_hit",
        "raise_after_hit",
        "raised_hit_users",
        "hit_users",
        "users who hit",
    ),
]
TOOL_GROUP_LABELS = {
    "junie": "Junie",
    "claude_agent": "Claude Agent",
    "ai_assistant_chat": "AI Assistant chat",
    "other": "Other AI tools",
}


def _text(value) -> str:
    if value is None:
        return "realistic"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1 else f"{value:,.1f}"
    return str(value)


def traits_table(settings: dict, measured: dict) -> pd.DataFrame:
    """What was asked of the generator against what its data shows (`generator.json`'s
    `settings` and `measured`), one row per trait, as text for a person."""
    rows = []
    for label, setting, key, part, whole, of in _TRAITS:
        got = measured.get(key)
        count = ""
        if part and part in measured:
            count = f"{measured[part]:,}" + (f" of {measured[whole]:,} {of}" if whole else f" {of}")
        rows.append(
            {
                "trait": label,
                "asked": _text(settings.get(setting)),
                "measured": "n/a" if got is None else _text(got),
                "count": count,
            }
        )
    asked_mix = settings.get("tool_mix") or {}
    got_mix = measured.get("tool_mix") or {}
    counts = measured.get("tool_requests") or {}
    for group, label in TOOL_GROUP_LABELS.items():
        rows.append(
            {
                "trait": f"Tool mix: {label}",
                "asked": _text(asked_mix.get(group)) if asked_mix else "realistic",
                "measured": _text(got_mix.get(group)) if got_mix else "n/a",
                "count": f"{counts.get(group, 0):,} of {measured.get('counted_requests', 0):,} "
                "counted requests"
                if counts
                else "",
            }
        )
    return pd.DataFrame(rows, columns=["trait", "asked", "measured", "count"])
