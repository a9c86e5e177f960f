"""Users: where each person stands against their allowance, to spot who needs more credits."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import charts, components, data, safety, state

ds, filters = state.require()
period = filters.period

st.title("Users")
st.caption(state.describe(filters, ds))

table = data.users_table(ds, period, filters.teams)

AT_LIMIT = "At limit"
NEAR_LIMIT = "Near limit"
SORTS = {
    "Share of allowance used": ("share_used", False),
    "AI Credits in the period": ("total", False),
    "Limit hits in the period": ("limit_hits", False),
    "Last active": ("last_active", False),
    "Name": ("name", True),
    "Team": ("team", True),
}

with st.container(border=True):
    controls = components.row(align="bottom")
    query = controls.text_input(
        "Search",
        placeholder="Name, email, team or plan",
        key="users_q",
        bind="query-params",
        width=300,
    )
    sort_by = controls.selectbox(
        "Sort by", list(SORTS), key="users_sort", bind="query-params", width=240
    )
    only_near = controls.toggle(
        "Only near or over their limit", key="users_near", bind="query-params", width="content"
    )

rows = table.assign(team=table["team"].fillna(state.team_label(None, ds.teams)))
if query:
    needle = query.strip().lower()
    haystack = (
        rows["name"].fillna("")
        + " "
        + rows["email"].fillna("")
        + " "
        + rows["team"]
        + " "
        + rows["plan"].fillna("")
        + " "
        + rows["user_id"]
    ).str.lower()
    rows = rows[haystack.str.contains(needle, regex=False)]
if only_near:
    rows = rows[rows["near_limit"]]
column, ascending = SORTS[sort_by]
rows = rows.sort_values([column, "user_id"], ascending=[ascending, True], na_position="last")
share, held, plan = rows["share_used"].fillna(0), rows["licenses"], rows["plan"].fillna("")
rows = rows.assign(
    status=np.select([share >= 1, share >= 0.8], [AT_LIMIT, NEAR_LIMIT], ""),
    license=plan.where(held <= 1, plan + " (+" + (held - 1).astype(str) + ")").where(
        held > 0, None
    ),
)

price = filters.price
kpis = components.row(gap="large")
cols = [kpis.container(width="content") for _ in range(5)]
cols[0].metric("Users", f"{len(table):,}")
cols[1].metric("Active in the period", f"{int((table['requests'] > 0).sum()):,}")
cols[2].metric(
    "Near or over their limit",
    f"{int(table['near_limit'].sum()):,}",
    help="At or above 80% of the allowance of their fullest license's current quota period",
)
cols[3].metric("Hit their limit in the period", f"{int((table['limit_hits'] > 0).sum()):,}")
cols[4].metric(
    "AI Credits in the period",
    float(table["total"].sum()),
    format="%,.1f",
    help="Built-in quota and top-up AI Credits of these users in the period",
)
cols[4].caption(safety.md(price.estimate(float(table["total"].sum()))))

st.caption(
    f"Allowance columns describe each user's fullest license (the largest share of its "
    f"allowance used) in the quota period running on {charts.day_range(period.end, period.end)},"
    f" the period's last day; (+1) says the user holds one more license. The top-up limit is "
    f"the one in force for the user that day. {len(rows):,} of {len(table):,} users shown."
)

SHOWN = [
    "name",
    "team",
    "status",
    "license",
    "share_used",
    "spent",
    "allowance",
    "topup_limit",
    "limit_hits",
    "total",
    "last_active",
]
EXPORT = [
    "user_id",
    "name",
    "email",
    "team",
    "status",
    "plan",
    "licenses",
    "share_used",
    "spent",
    "allowance",
    "quota",
    "topup_used",
    "topup_limit",
    "quota_start",
    "quota_end",
    "limit_hits",
    "requests",
    "builtin",
    "topup",
    "total",
    "last_active",
]
if rows.empty:
    who = "No user near or over their limit" if only_near else "No user"
    st.info(
        components.NO_USERS
        if table.empty
        else f"{who} matches the search “{safety.md(query.strip())}”."
        if query
        else f"{who} in the chosen teams.",
        icon=":material/search_off:",
    )
else:
    st.dataframe(
        rows.set_index("user_id")[SHOWN],  # only what is shown travels: half the bytes
        placeholder=components.MISSING,
        hide_index=True,
        height=560,
        key="users_table",
        lazy=True,
        column_order=SHOWN,
        column_config={
            "name": st.column_config.TextColumn("User", pinned=True, width=128),
            "team": st.column_config.TextColumn("Team", width=100),
            "status": st.column_config.TextColumn(
                "Status", help="At or above 80% of the allowance: near the limit", width=72
            ),
            "license": st.column_config.TextColumn(
                "License", help="Plan of the fullest license; (+n): other licenses held", width=112
            ),
            "share_used": st.column_config.ProgressColumn(
                "Used",
                format="percent",
                min_value=0.0,
                max_value=1.0,
                width=90,
                help="Share of the allowance used: spent in the current quota period / "
                "(built-in quota + top-up limit), fullest license",
            ),
            "spent": st.column_config.NumberColumn(
                "Spent",
                format="%.1f",
                width=58,
                help="AI Credits spent in the current quota period",
            ),
            "allowance": st.column_config.NumberColumn(
                "Allowance", format="%.1f", width=68, help="Built-in quota + top-up limit"
            ),
            "topup_limit": st.column_config.NumberColumn(
                "Top-up limit", format="%.1f", width=80, help="In force for the user on that day"
            ),
            "limit_hits": st.column_config.NumberColumn(
                "Hits", format="%d", width=42, help="Limit hits in the period"
            ),
            "total": st.column_config.NumberColumn(
                "AI Credits", format="%.1f", width=68, help="AI Credits spent in the period"
            ),
            "last_active": st.column_config.DateColumn(
                "Last active", format="YYYY-MM-DD", width=84
            ),
        },
    )
    components.csv_button(
        "Download CSV",
        rows[EXPORT].assign(**price.estimate_columns(rows["total"])),
        f"users_{period.start}_{period.end}.csv",
        help="The rows shown, with every column and each user's AI Credits as an estimate of "
        "money; text that a spreadsheet would run as a formula starts with an apostrophe",
    )
