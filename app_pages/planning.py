"""Planning: who runs out before their quota resets, the month's top-up, and the seats in use."""

from __future__ import annotations

import streamlit as st

from ui import charts, components, data, frames, safety, state

ds, filters = state.require()
price = filters.price
today = state.context().today or data.today(ds)
who = state.teams_text(filters.teams, ds.teams)

st.title("Planning")
st.caption(
    " · ".join(safety.md(x) for x in (ds.name, f"as of {charts.day_range(today, today)}", who))
    + "  \nPlanning looks ahead from today, so the sidebar's period does not apply here; "
    "its teams do."
)

forecast = data.forecast(ds, today, filters.teams)
risk = frames.at_risk_frame(ds, forecast.at_risk, today)
risk = risk.assign(team=risk["team"].fillna(state.team_label(None, ds.teams)))

with st.container(border=True):
    st.subheader(
        "Expected to run out before their quota resets",
        anchor=False,
        help="Licenses whose spending so far, at the pace of their user, is expected to reach "
        "the allowance (built-in quota plus top-up limit) before the quota period ends: about a "
        "30 % chance or more. See docs/forecast.md for the method and how well it does.",
    )
    users = risk["user_id"].nunique()
    if risk.empty:
        st.info(
            "Nobody is expected to run out before their quota period resets, as of "
            f"{charts.day_range(today, today)}.",
            icon=":material/info:",
        )
    else:
        st.markdown(
            f"**{users:,} user{'s' if users != 1 else ''}** "
            f"({len(risk):,} license{'s' if len(risk) != 1 else ''}) expected to reach their "
            f"allowance before their quota period resets, as of "
            f"{charts.day_range(today, today)}."
        )
        st.dataframe(
            risk,
            placeholder=components.MISSING,
            hide_index=True,
            key=components.table_key("risk_table", risk),
            height=components.table_height(len(risk), 738),
            column_order=[
                "name",
                "team",
                "plan",
                "share_used",
                "spent",
                "allowance",
                "projected_hit_day",
                "days_to_hit",
                "resets_on",
                "days_to_reset",
            ],
            column_config={
                "name": st.column_config.TextColumn("User", pinned=True),
                "team": st.column_config.TextColumn("Team"),
                "plan": st.column_config.TextColumn("License"),
                "share_used": st.column_config.ProgressColumn(
                    "Allowance used", format="percent", min_value=0.0, max_value=1.0
                ),
                "spent": st.column_config.NumberColumn(
                    "Spent", format="%,.1f", help="AI Credits spent in the current quota period"
                ),
                "allowance": st.column_config.NumberColumn(
                    "Allowance", format="%,.1f", help="Built-in quota + top-up limit"
                ),
                "projected_hit_day": st.column_config.DateColumn(
                    "Expected to run out", format="YYYY-MM-DD"
                ),
                "days_to_hit": st.column_config.NumberColumn(
                    "In days", format="%d", help="Days from today to the expected day"
                ),
                "resets_on": st.column_config.DateColumn(
                    "Quota resets", format="YYYY-MM-DD", help="The first day of the next period"
                ),
                "days_to_reset": st.column_config.NumberColumn(
                    "Reset in days", format="%d", help="Days from today to the reset"
                ),
            },
        )
        components.csv_button(
            "Download CSV", risk, f"expected_to_run_out_{today}.csv", key="risk_csv"
        )

with st.container(border=True):
    month = forecast.month
    st.subheader(
        f"Top-up AI Credits in {month:%B %Y}",
        anchor=False,
        help="Top-up credits are the ones spent beyond a license's built-in quota. The "
        "projection adds what each valid license is expected to spend between its quota and "
        "its allowance until the month ends.",
    )
    spent = forecast.topup_spent / frames.MICRO
    projected = forecast.topup_projected / frames.MICRO
    figures = components.row(gap="large")
    for label, credits in (
        (f"So far (through {today:%b} {today.day})", spent),
        ("Projected for the whole month", projected),
    ):
        with figures.container(width="content"):
            st.metric(label, credits, format="%,.1f")
            st.caption(safety.md(price.estimate(credits)))

seats = data.seats(ds, today, filters.teams)
seats = seats.assign(team=seats["team"].fillna(state.team_label(None, ds.teams)))
bands = frames.bands_frame(seats)
unused = frames.never_used(seats)
gone = frames.lapsed(seats, today)

with st.container(border=True):
    st.subheader(
        "Allowance use and seats",
        anchor=False,
        help="Each licensed user's share of their allowance used in the last whole quota "
        "period (their fullest license), and the seats nobody uses.",
    )
    side_by_side = components.row(gap="large")
    chart_col, numbers_col = (
        side_by_side.container(width=520),
        side_by_side.container(width="content"),
    )
    with chart_col:
        if bands["users"].sum():
            components.altair_chart(
                charts.bands_chart(bands, [f"{ds.name} · {who}"]),
                key="bands_chart",
                width="stretch",
            )
        else:
            st.info("Nobody held a license in the last whole quota period.")
    with numbers_col:
        licensed = int(seats["licensed"].sum())
        st.metric("Licensed now", f"{licensed:,}")
        st.metric(
            "Never made a counted request",
            f"{len(unused):,}",
            help="Licensed now, without a single request that spent AI Credits: seats to "
            "reclaim or people to help start",
        )
        st.metric(
            "Lapsed",
            f"{len(gone):,}",
            help=f"Active before, but not in the last {frames.LAPSED_DAYS} days",
        )

    SEAT_COLUMNS = {
        "name": st.column_config.TextColumn("User", pinned=True),
        "team": st.column_config.TextColumn("Team"),
        "email": st.column_config.TextColumn("Email"),
        "licensed": st.column_config.CheckboxColumn("Licensed now"),
        "last_active": st.column_config.DateColumn("Last active", format="YYYY-MM-DD"),
        "days_inactive": st.column_config.NumberColumn("Days since", format="%d"),
    }

    def seat_list(tab, users, name: str, caption: str, empty: str, shown: list[str]) -> None:
        """One list of seats, its CSV with the ids, or why it is empty."""
        with tab:
            st.caption(caption)
            if users.empty:
                st.info(empty, icon=":material/info:")
                return
            st.dataframe(
                users,
                placeholder=components.MISSING,
                hide_index=True,
                key=components.table_key(f"{name}_table", users),
                height=components.table_height(len(users), 320),
                column_order=shown,
                column_config=SEAT_COLUMNS,
            )
            exported = ["user_id", "name", "email", "team", "licensed", *shown, "requests"]
            components.csv_button(
                "Download CSV",
                users[list(dict.fromkeys(exported))],
                f"{name}_{today}.csv",
                key=f"{name}_csv",
            )

    # Counts stay out of the labels: a bound tab is named in the URL by its label.
    never_tab, lapsed_tab = st.tabs(["Never used", "Lapsed"], key="seats_tab", bind="query-params")
    seat_list(
        never_tab,
        unused,
        "never_used",
        "Licensed now, and no counted request ever: reclaim candidates.",
        "Every user licensed now has made a counted request.",
        ["name", "team", "email"],
    )
    seat_list(
        lapsed_tab,
        gone,
        "lapsed",
        f"Active before, but without a counted request in the last {frames.LAPSED_DAYS} days "
        "(today included).",
        f"Everybody active before made a counted request in the last {frames.LAPSED_DAYS} days.",
        ["name", "team", "last_active", "days_inactive", "licensed", "email"],
    )
