"""Rendering pieces shared by the pages: metrics with deltas, chart cards, empty states."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.charts import day_range

INT = "%,d"
CREDITS = "%,.1f"


def metric(
    label: str,
    value: float,
    previous: float,
    *,
    fmt: str = INT,
    versus: str,
    help: str | None = None,
    delta_color: str = "normal",
) -> None:
    """Every sub-metric carries its change against the previous period of equal length."""
    delta = value - previous
    if fmt == CREDITS:
        delta = round(delta, 1)
    st.metric(
        label,
        value,
        delta=delta,
        delta_color=delta_color,
        format=fmt,
        delta_description=versus,
        help=help,
    )


def versus(previous_start, previous_end, first_day=None) -> str:
    """Says when the comparison period predates the data, so a delta equal to the value reads
    as "nothing to compare with" rather than as growth."""
    text = f"vs {day_range(previous_start, previous_end)}"
    if first_day is None or previous_end < first_day:
        text += " (before any data)"
    return text


def empty_state(what: str, period, first_day, last_day) -> None:
    """Said in words instead of drawing empty axes."""
    span = (
        f"The dataset holds counted requests from {day_range(first_day, last_day)}."
        if first_day
        else "The dataset holds no counted request at all."
    )
    st.info(f"{what} in {day_range(period.start, period.end)}. {span}", icon=":material/info:")


USER_COLUMNS = {
    "name": st.column_config.TextColumn("User"),
    "email": st.column_config.TextColumn("Email"),
    "team": st.column_config.TextColumn("Team"),
    "builtin": st.column_config.NumberColumn("Built-in quota", format="%.2f"),
    "topup": st.column_config.NumberColumn("Top-up AI Credits", format="%.2f"),
    "total": st.column_config.NumberColumn("Total AI Credits", format="%.2f"),
    "requests": st.column_config.NumberColumn("Requests", format="%d"),
    "hit_limit": st.column_config.CheckboxColumn("Hit limit"),
}


def users_table(users: pd.DataFrame, key: str) -> None:
    st.dataframe(
        users,
        column_order=list(USER_COLUMNS),
        column_config=USER_COLUMNS,
        hide_index=True,
        key=key,
        height=min(38 + 35 * max(len(users), 1), 360),
    )
