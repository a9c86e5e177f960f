"""Users: where each person stands against their allowance, to spot who needs more credits."""

from __future__ import annotations

import streamlit as st

from ui import charts, data, state


def share_bar(label: str, help_text: str):
    """A 0-100 % bar, the same scale for every share of an allowance on this page."""
    return st.column_config.ProgressColumn(
        label, format="percent", min_value=0.0, max_value=1.0, help=help_text
    )


ds, filters = state.require()
period = filters.period

st.title("Users")
st.caption(state.describe(filters, ds))

overview = data.users_overview(ds, period, filters.teams)

AT_LIMIT = "🔴 At limit"
NEAR_LIMIT = "🟠 Near limit"
SORTS = {
    "Share of allowance used": ("share_used", False),
    "AI Credits in the period": ("total", False),
    "Limit hits": ("limit_hits", False),
    "Last active": ("last_active", False),
    "Name": ("name", True),
    "Team": ("team", True),
}

with st.container(border=True):
    search_col, sort_col, only_col = st.columns([3, 2, 2], vertical_alignment="bottom")
    query = search_col.text_input(
        "Search", placeholder="Name, email, team or plan", key="users_q", bind="query-params"
    )
    sort_by = sort_col.selectbox("Sort by", list(SORTS), key="users_sort")
    only_near = only_col.toggle("Only near or over their limit", key="users_near")

rows = overview
if query:
    needle = query.strip().lower()
    haystack = (
        rows["name"].fillna("")
        + " "
        + rows["email"].fillna("")
        + " "
        + rows["team"].fillna("")
        + " "
        + rows["plans"].fillna("")
        + " "
        + rows["user_id"]
    ).str.lower()
    rows = rows[haystack.str.contains(needle, regex=False)]
if only_near:
    rows = rows[rows["near_limit"]]
column, ascending = SORTS[sort_by]
rows = rows.sort_values([column, "user_id"], ascending=[ascending, True], na_position="last")
rows = rows.assign(
    status=rows["share_used"].map(lambda s: AT_LIMIT if s >= 1 else NEAR_LIMIT if s >= 0.8 else ""),
    topup_share=(rows["topup_used"] / rows["topup_limit"].where(rows["topup_limit"] > 0)),
)

cols = st.columns(4)
cols[0].metric("Users", f"{len(overview):,}")
cols[1].metric("Active in the period", f"{int((overview['requests'] > 0).sum()):,}")
cols[2].metric(
    "Near or over their limit",
    f"{int(overview['near_limit'].sum()):,}",
    help="At or above 80% of the allowance of a license's current quota period",
)
cols[3].metric("Hit their limit in the period", f"{int((overview['limit_hits'] > 0).sum()):,}")

st.caption(
    f"Allowance columns show each user's quota period running on "
    f"{charts.day_range(period.end, period.end)}, the last day of the period; with several "
    f"licenses, the fullest one. {len(rows):,} of {len(overview):,} users shown."
)

st.dataframe(
    rows,
    hide_index=True,
    height=560,
    key="users_table",
    column_order=[
        "status",
        "name",
        "team",
        "plans",
        "share_used",
        "spent",
        "allowance",
        "topup_share",
        "topup_used",
        "topup_limit",
        "limit_hits",
        "requests",
        "total",
        "last_active",
        "email",
    ],
    column_config={
        "status": st.column_config.TextColumn(
            "Status", help="At or above 80% of the allowance: near the limit", width="small"
        ),
        "name": st.column_config.TextColumn("User"),
        "team": st.column_config.TextColumn("Team"),
        "plans": st.column_config.TextColumn("Plans"),
        "share_used": share_bar(
            "Allowance used", "Spent in the current quota period / (built-in quota + top-up limit)"
        ),
        "spent": st.column_config.NumberColumn("Spent", format="%.1f"),
        "allowance": st.column_config.NumberColumn("Allowance", format="%.1f"),
        "topup_share": share_bar(
            "Top-up used",
            "Top-up AI Credits spent against the top-up limit (blank without a limit)",
        ),
        "topup_used": st.column_config.NumberColumn("Top-up spent", format="%.1f"),
        "topup_limit": st.column_config.NumberColumn("Top-up limit", format="%.1f"),
        "limit_hits": st.column_config.NumberColumn("Hits in period", format="%d"),
        "requests": st.column_config.NumberColumn("Requests in period", format="%d"),
        "total": st.column_config.NumberColumn("AI Credits in period", format="%.1f"),
        "last_active": st.column_config.DateColumn("Last active", format="YYYY-MM-DD"),
        "email": st.column_config.TextColumn("Email"),
    },
)

st.download_button(
    "Download CSV",
    rows.drop(columns=["topup_share"]).to_csv(index=False).encode(),
    file_name=f"users_{period.start}_{period.end}.csv",
    mime="text/csv",
    icon=":material/download:",
    on_click="ignore",
)
