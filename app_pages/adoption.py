"""AI adoption and usage: the three charts of the product page, with drill-downs."""

from __future__ import annotations

import functools
from datetime import date

import streamlit as st

from ui import charts, components, data, safety, state

ds, filters = state.require()
period = filters.period
previous = filters.previous
compare = components.comparison(previous.start, previous.end, ds.first_day)

st.title("AI adoption and usage")
caption = st.empty()

controls = components.row()
gran_choice = controls.segmented_control(
    "Granularity",
    state.GRANULARITY_OPTIONS,
    default=state.AUTO,
    key="gran",
    bind="query-params",
    required=True,
    help="One bar per day, week (Monday to Sunday), month or year. Auto shows days up to "
    "31 days, months up to 731 days, years beyond.",
    width="content",
)
tool_labels = controls.pills(
    "Tools",
    list(state.TOOL_LABELS),
    selection_mode="multi",
    key="tool",
    bind="query-params",
    help="Narrows Active AI users and AI Credits consumption. Limit hits always count every "
    "tool, because the allowance is shared by all of them.",
    width="content",
)
granularity, auto = state.resolve_granularity(gran_choice, period)
tools = tuple(state.TOOL_LABELS[t].value for t in tool_labels)
caption.caption(state.describe(filters, ds, f"by {granularity.value}{' (auto)' if auto else ''}"))

report = data.report(ds, period, granularity, filters.teams, tools)


def running_out(slot, today: date) -> None:
    """One line from the forecast, as of today, with the way to the Planning page."""
    at_risk = data.at_risk(ds, today, filters.teams)
    users = len({r.user_id for r in at_risk})
    text = (
        f"**{users:,} user{' is' if users == 1 else 's are'}** expected to run out of AI Credits "
        "before their quota resets"
        if users
        else "Nobody is expected to run out of AI Credits before their quota resets"
    )
    forecast_line(
        slot,
        f"{text} (as of {charts.day_range(today, today)}, "
        f"{safety.md(state.teams_text(filters.teams, ds.teams))}).",
    )


def forecast_line(slot, text: str) -> None:
    with slot.container(), components.row(align="center", spread=True):
        st.markdown(f":material/event_upcoming: {text}", width="content")
        st.page_link(
            "app_pages/planning.py",
            label="Planning",
            icon=":material/arrow_forward:",
            width="content",
        )


# A forecast takes seconds on a large organization, so until the server has made today's, the
# charts come first, under a placeholder line that the forecast then replaces in place.
today = state.context().today or data.today(ds)
forecast_slot = st.empty()
forecast_later = not data.has_forecast(ds, today)
if forecast_later:
    forecast_line(forecast_slot, "Looking ahead at who may run out of AI Credits…")
else:
    running_out(forecast_slot, today)
# Without earlier data the deltas give way to a note, so the earlier report is not needed.
before = (
    data.report(ds, previous, granularity, filters.teams, tools) if compare.has_data else report
)
frame = report.frame()
by_days = {f"{b.first}..{b.last}": b for b in report.buckets}
where = f"{ds.name} · {charts.day_range(period.start, period.end)}"
who = state.teams_text(filters.teams, ds.teams)
who = f"{who[:1].upper()}{who[1:]}"
subtitle = [where, f"{who} · {', '.join(tool_labels) if tool_labels else 'all tools'}"]
# Limit hits count every tool whatever the filter, and an exported image must not say otherwise.
hits_subtitle = [where, f"{who} · all tools"]
HELP = {
    "active": "Per bar, the number of different users with at least one counted request in it: "
    "a request that spent AI Credits in Junie, Claude Agent, AI Assistant chat or another tool "
    "charged in credits. Code completion and next edit suggestion never count. The period "
    "figure counts each user once, so it is usually less than the sum of the bars.",
    "credits": "Per bar, the built-in and top-up AI Credits of the counted requests in it, "
    "stacked. Each license spends its built-in quota first, counted from the start of its "
    "quota period (a calendar month, or a 30-day cycle) even when that is before the shown "
    "period; the rest are top-up credits, even where they overdraw the top-up limit.",
    "hits": "Per bar, the number of different users whose spending under a license reached its "
    "allowance (built-in quota plus top-up limit) in it: without top-up when the quota is used "
    "up, with top-up when both are; after a raised limit only when the new allowance is used "
    "up; with several licenses as soon as any one is. Limit hits belong to a license, not a "
    "tool, so the tool filter does not apply here.",
}

SUMMARY = {
    "active": "Different users with at least one request that spent AI Credits.",
    "credits": "AI Credits spent: each license's built-in quota first, then top-up credits.",
    "hits": "Different users who used up a license's allowance: built-in quota plus top-up limit.",
}


def header(title: str, help_text: str, chart: str) -> None:
    """The chart's CSV is written when it is clicked, not on every filter change."""
    with components.row(align="center", spread=True):
        with st.container(width="content"):
            st.subheader(title, help=help_text, anchor=False)
            st.caption(SUMMARY[chart])
        components.csv_button(
            "CSV",
            functools.partial(charts.series_csv, frame, chart, filters.price),
            f"{chart}_{period.start}_{period.end}.csv",
            key=f"csv_{chart}",
            help="This chart's series, one row per bucket",
        )


def picked_bucket(chart: str):
    """The bar named by the URL (`bar_active=2026-11-01..2026-11-24`); one that this view
    does not draw is dropped from the URL."""
    raw = state.url_value(f"bar_{chart}")
    bucket = by_days.get(raw) if raw else None
    if raw and bucket is None:
        state.set_url_value(f"bar_{chart}", None)
    return bucket


def remember_pick(chart: str, key: str) -> None:
    """Runs only when the person clicks, so the URL follows clicks and nothing else."""
    picked = st.session_state[key]["selection"].get(charts.SELECTION) or []
    value = f"{picked[0]['first']}..{picked[0]['last']}" if picked else None
    state.set_url_value(f"bar_{chart}", value)


def hint(bucket) -> None:
    note = "" if bucket else "Click a bar to see the users behind it."
    if frame["partial"].any():
        note = (
            f"Lighter bars are partial buckets: the period covers only part of their "
            f"{granularity.value}, so a dip there is not a drop in use. " + note
        )
    if note:
        st.caption(note)


def drill_down(bucket, chart: str, teams, tools, only_hits: bool = False) -> None:
    if bucket is None:
        return
    users = data.bucket_users(ds, bucket.first, bucket.last, teams, tools)
    users = users[users["hit_limit"]] if only_hits else users[users["requests"] > 0]
    st.markdown(
        f"**{len(users):,} user{'s' if len(users) != 1 else ''}** "
        f"{'on' if bucket.first == bucket.last else 'in'} "
        f"{charts.day_range(bucket.first, bucket.last)}"
    )
    components.users_table(
        users,
        key=f"users_{chart}",
        file_name=f"{chart}_users_{bucket.first}_{bucket.last}.csv",
        price=filters.price,
    )


def chart_or_empty(value, empty_text: str, chart_fn, chart: str, hits: bool = False) -> None:
    """The chart with its drill-down, or an empty state when the period has nothing to show.

    Limit hits ignore the tool filter, so their drill-down does too.
    """
    if value == 0:
        components.empty_state(empty_text, period, ds.first_day, ds.last_day)
        return
    bucket = picked_bucket(chart)
    # Redrawn in place on a filter change (the fast path); a new pick, or a pick dropped, is a
    # new chart, so no selection outlives the bar it named.
    key = f"chart_{chart}" + (f"_{bucket.first}_{bucket.last}" if bucket else "")
    sub = hits_subtitle if hits else subtitle
    components.altair_chart(
        chart_fn(frame, report.granularity, sub, (str(bucket.first), str(bucket.last)))
        if bucket
        else chart_fn(frame, report.granularity, sub),
        on_select=functools.partial(remember_pick, chart, key),
        selection_mode=charts.SELECTION,
        key=key,
        width="stretch",
    )
    hint(bucket)
    drill_down(bucket, chart, filters.teams, () if hits else tools, only_hits=hits)


with st.container(border=True):
    header("Active AI users", HELP["active"], "active")
    components.metric(
        "Active users",
        report.active_users.total,
        before.active_users.total,
        compare=compare,
        help="Distinct users over the whole period",
    )
    chart_or_empty(
        report.active_users.total, "No active AI users", charts.active_users_chart, "active"
    )

with st.container(border=True):
    header("AI Credits consumption", HELP["credits"], "credits")
    c = report.credits
    p = before.credits
    figures = [
        ("Total AI Credits spent", c.total, p.total),
        (charts.BUILTIN_LABEL, c.builtin, p.builtin),
        (charts.TOPUP_LABEL, c.topup, p.topup),
    ]
    with components.row():
        for label, now, then in figures:
            components.metric(
                label, now, then, fmt=components.CREDITS, compare=compare, delta_color="off"
            )
    price = filters.price
    st.caption(
        safety.md(
            f"Cost: {price.estimate(c.total)}, of which top-up {price.money(price.amount(c.topup))}"
            " (an estimate: what the organization pays depends on its contract)."
        )
    )
    chart_or_empty(c.total, "No AI Credits were spent", charts.credits_chart, "credits")

with st.container(border=True):
    header("Users who hit their monthly AI Credits limit", HELP["hits"], "hits")
    # The tool filter never narrows limit hits, so the filtered report already has them all.
    h = report.limit_hits
    hb = before.limit_hits
    with components.row(gap="large"):
        with st.container(width="content"):
            components.metric(
                "Users who hit their limit",
                h.users,
                hb.users,
                compare=compare,
                delta_color="inverse",
                help="Distinct users with a limit hit anywhere in the period",
            )
        peak_day: date | None = h.peak_day
        with st.container(width="content"):
            components.metric(
                "Peak daily users who hit their limit",
                h.peak_daily_users,
                hb.peak_daily_users,
                compare=compare,
                delta_color="inverse",
                help="The most distinct users hit on a single day of the period",
            )
            if peak_day:
                st.caption(f"Peak on {peak_day:%a}, {charts.day_range(peak_day, peak_day)}")
    chart_or_empty(
        h.users, "Nobody hit their AI Credits limit", charts.limit_hits_chart, "hits", hits=True
    )

if forecast_later:
    running_out(forecast_slot, today)
