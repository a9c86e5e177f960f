"""Teams: every team side by side, to see which adopt least and which spend most."""

from __future__ import annotations

import dataclasses
import functools

import pandas as pd
import streamlit as st

from ui import charts, components, data, frames, safety, state

ds, filters = state.require()
period, price = filters.period, filters.price
OPEN_TEAM = "_open_team"
ADOPTION = "app_pages/adoption.py"


def open_team(team) -> None:
    """Runs in a click's callback, before the sidebar is drawn, so the team filter can still be
    set; the page then switches to the main page with that filter."""
    st.session_state["team"] = [None if pd.isna(team) else str(team)]
    st.session_state[OPEN_TEAM] = True


def pick_from_chart(teams: dict) -> None:
    """A clicked bar names its team by label."""
    picked = st.session_state["teams_chart"]["selection"].get(charts.TEAM_PICK) or []
    if picked and picked[0].get("label") in teams:
        open_team(teams[picked[0]["label"]])


def pick_from_table(key: str, teams: list) -> None:
    """A selected row names its team by position in the rows shown."""
    chosen = st.session_state[key]["selection"]["rows"]
    if chosen and chosen[0] < len(teams):
        open_team(teams[chosen[0]])


if OPEN_TEAM in st.session_state:
    del st.session_state[OPEN_TEAM]
    st.switch_page(ADOPTION, query_params=state.unbound_params())

st.title("Teams")
st.caption(state.describe(filters, ds))

report = data.by_team(ds, period)
table = frames.teams_frame(report, price, ds.teams)
if filters.teams:
    table = table[
        table["team"].isin(filters.teams) | (table["team"].isna() & (None in filters.teams))
    ]
org = report.organization
previous = filters.previous
compare = components.comparison(previous.start, previous.end, ds.first_day)
before = data.by_team(ds, previous).organization if compare.has_data else org

with st.container(border=True):
    st.subheader("Organization", anchor=False)
    # Said once here: five columns leave no room for it under every figure.
    since = (
        f"Changes are against {charts.day_range(previous.start, previous.end)}, the period "
        "before of the same kind."
        if compare.has_data
        else f"{compare.note}: {compare.text}."
    )
    st.caption(
        "Everybody in the period, whichever teams are chosen; adoption is the share of "
        f"licensed users who are active. {since}"
    )
    compare = dataclasses.replace(compare, text="")
    kpis = components.row(gap="large")
    with kpis.container(width="content"):
        components.metric(
            "Licensed users",
            org.licensed_users,
            before.licensed_users,
            compare=compare,
            help="Users holding a license valid on at least one day of the period",
        )
    with kpis.container(width="content"):
        components.metric(
            "Active users",
            org.active_users,
            before.active_users,
            compare=compare,
            help="Users with at least one counted request in the period",
        )
    with kpis.container(width="content"):
        now_pct = 100 * (org.adoption or 0.0)
        then_pct = 100 * (before.adoption or 0.0)
        components.metric(
            "Adoption",
            round(now_pct, 1),
            round(then_pct, 1),
            compare=compare,
            fmt="%.1f%%",
            delta_text=lambda d: f"{d:+.1f} pts",
            help="Licensed users who are active, out of all licensed users",
        )
    with kpis.container(width="content"):
        components.metric(
            "AI Credits",
            org.credits.total,
            before.credits.total,
            compare=compare,
            fmt=components.CREDITS,
            delta_color="off",
            help="Built-in quota and top-up AI Credits spent in the period",
        )
        st.caption(safety.md(price.estimate(org.credits.total)))
    with kpis.container(width="content"):
        components.metric(
            "Users who hit their limit",
            org.limit_hit_users,
            before.limit_hit_users,
            compare=compare,
            delta_color="inverse",
            help="Users with a limit hit anywhere in the period",
        )

SORTS = {
    "Adoption, lowest first": ("adoption", True),
    "Adoption, highest first": ("adoption", False),
    "Active users": ("active_users", False),
    "Licensed users": ("licensed_users", False),
    "AI Credits": ("total", False),
    "AI Credits per active user": ("per_active", False),
    "Users who hit their limit": ("limit_hit_users", False),
    "Team": ("label", True),
}

with st.container(border=True):
    head = components.row(align="bottom", spread=True)
    head.subheader("Teams side by side", anchor=False, width="content")
    sort_by = head.selectbox(
        "Sort by", list(SORTS), key="teams_sort", bind="query-params", width=260
    )
    column, ascending = SORTS[sort_by]
    rows = table.sort_values([column, "label"], ascending=[ascending, True], na_position="last")

    if rows.empty:
        st.info(components.NO_USERS, icon=":material/info:")
    else:
        drawn = rows["adoption"].notna()
        subtitle = [f"{ds.name} · {charts.day_range(period.start, period.end)}"]
        if drawn.any():
            components.altair_chart(
                charts.adoption_chart(rows, org.adoption, subtitle),
                on_select=functools.partial(
                    pick_from_chart, dict(zip(rows["label"], rows["team"], strict=True))
                ),
                selection_mode=charts.TEAM_PICK,
                key="teams_chart",
                width="stretch",
            )
        hidden = rows.loc[~drawn, "label"].tolist()
        note = "Click a team's bar, or a row of the table, to open the main page for that team."
        if hidden:
            note += (
                f" Not drawn, without licensed users in the period: {safety.md(', '.join(hidden))}."
            )
        st.caption(note)

        key = components.table_key("teams_table", rows)
        st.dataframe(
            rows,
            placeholder=components.MISSING,
            hide_index=True,
            key=key,
            on_select=functools.partial(pick_from_table, key, rows["team"].tolist()),
            selection_mode="single-row",
            column_order=[
                "label",
                "licensed_users",
                "active_users",
                "adoption",
                "builtin",
                "topup",
                "total",
                "per_active",
                "cost",
                "limit_hit_users",
            ],
            column_config={
                "label": st.column_config.TextColumn("Team", pinned=True),
                "licensed_users": st.column_config.NumberColumn(
                    "Licensed", format="%d", help="Users holding a license in the period"
                ),
                "active_users": st.column_config.NumberColumn(
                    "Active", format="%d", help="Users with a counted request in the period"
                ),
                "adoption": st.column_config.ProgressColumn(
                    "Adoption",
                    format="percent",
                    min_value=0.0,
                    max_value=1.0,
                    help="Licensed users who are active, out of the licensed users",
                ),
                "builtin": st.column_config.NumberColumn(charts.BUILTIN_LABEL, format="%,.1f"),
                "topup": st.column_config.NumberColumn(charts.TOPUP_LABEL, format="%,.1f"),
                "total": st.column_config.NumberColumn("AI Credits", format="%,.1f"),
                "per_active": st.column_config.NumberColumn(
                    "Per active user", format="%,.1f", help="AI Credits per active user"
                ),
                "cost": st.column_config.NumberColumn(
                    f"≈ Cost ({price.currency})",
                    format="%,.0f",
                    help=f"An estimate: AI Credits at {price.rate}",
                ),
                "limit_hit_users": st.column_config.NumberColumn(
                    "Hit their limit", format="%d", help="Users with a limit hit in the period"
                ),
            },
        )
        st.caption(
            safety.md(
                f"Cost is an estimate at {price.rate} ({price.estimate(rows['total'].sum())} "
                f"for the teams shown)."
            )
        )
        components.csv_button(
            "Download CSV",
            frames.teams_csv_frame(rows, price, period),
            f"teams_{period.start}_{period.end}.csv",
            help="The rows shown, with every figure and the price of the cost estimate; text "
            "that a spreadsheet would run as a formula starts with an apostrophe",
        )
