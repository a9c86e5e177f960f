"""Altair chart builders for the three metrics.

Pure functions from a report's frame to an `alt.Chart`, so the Vega-Lite they produce can be
tested through `to_dict()` without a running app.
"""

from __future__ import annotations

from datetime import date

import altair as alt
import pandas as pd

from metrics import Granularity

ACTIVE = "#7B61FF"
BUILTIN = "#5B8DEF"
TOPUP = "#FF9F43"
HITS = "#E5484D"
PARTIAL_OPACITY = 0.4

BUILTIN_LABEL = "Built-in quota"
TOPUP_LABEL = "Top-up AI Credits"
SELECTION = "pick"
HEIGHT = 240


def bucket_label(first: date, granularity: Granularity) -> str:
    """Short axis labels: the bucket's natural first day says which bucket it is."""
    if granularity is Granularity.DAY:
        return f"{first:%b} {first.day}"
    if granularity is Granularity.WEEK:
        return f"W{first.isocalendar().week} · {first:%b} {first.day}"
    if granularity is Granularity.MONTH:
        return f"{first:%b %Y}"
    return f"{first:%Y}"


def day_range(first: date, last: date) -> str:
    if first == last:
        return f"{first:%b} {first.day}, {first.year}"
    if first.year == last.year:
        return f"{first:%b} {first.day} – {last:%b} {last.day}, {last.year}"
    return f"{first:%b} {first.day}, {first.year} – {last:%b} {last.day}, {last.year}"


def chart_frame(frame: pd.DataFrame, granularity: Granularity) -> pd.DataFrame:
    """Adds the label, day-range and coverage columns every chart and tooltip shares.

    `first` and `last` are ISO strings because they are the selection fields: a clicked bar
    comes back from the browser as exactly the days to drill into.
    """
    out = frame.copy()
    firsts = [ts.date() for ts in out["first_day"]]
    lasts = [ts.date() for ts in out["last_day"]]
    out["label"] = [bucket_label(ts.date(), granularity) for ts in out["bucket"]]
    out["days"] = [day_range(f, la) for f, la in zip(firsts, lasts, strict=True)]
    out["first"] = [d.isoformat() for d in firsts]
    out["last"] = [d.isoformat() for d in lasts]
    out["coverage"] = ["Partial" if p else "Whole" for p in out["partial"]]
    return out.drop(columns=["bucket", "first_day", "last_day"])


def _x(n: int) -> alt.X:
    return alt.X(
        "label:N",
        sort=None,
        title=None,
        axis=alt.Axis(labelAngle=0 if n <= 14 else -45, labelOverlap=True, ticks=False),
    )


def _opacity(data: pd.DataFrame) -> alt.Opacity:
    partial = bool(data["partial"].any())
    return alt.Opacity(
        "coverage:N",
        scale=alt.Scale(domain=["Whole", "Partial"], range=[1.0, PARTIAL_OPACITY]),
        legend=alt.Legend(title=None, orient="bottom", labelExpr=_COVERAGE_LEGEND, labelLimit=400)
        if partial
        else None,
    )


_COVERAGE_LEGEND = "datum.label == 'Partial' ? 'Partial (cut by the period)' : 'Whole'"


def _selection() -> alt.Parameter:
    return alt.selection_point(name=SELECTION, fields=["first", "last"], on="click")


def _dimmed(sel: alt.Parameter):
    """A clicked bar stays as it is and the others fade, on top of the partial-bucket opacity."""
    return alt.condition(sel, alt.value(1.0), alt.value(0.3))


def _base(data: pd.DataFrame) -> alt.Chart:
    return alt.Chart(data).properties(height=HEIGHT, width="container")


_BUCKET_TOOLTIPS = [
    alt.Tooltip("days:N", title="Days"),
    alt.Tooltip("coverage:N", title="Bucket"),
]


def _count_chart(
    frame: pd.DataFrame, granularity: Granularity, column: str, title: str, what: str, color: str
) -> alt.Chart:
    """One bar per bucket of a count of distinct users."""
    data = chart_frame(frame, granularity)
    sel = _selection()
    return (
        _base(data)
        .mark_bar(color=color, cornerRadiusTopLeft=3, cornerRadiusTopRight=3)
        .encode(
            x=_x(len(data)),
            y=alt.Y(f"{column}:Q", title=title, axis=alt.Axis(tickMinStep=1)),
            opacity=_opacity(data),
            fillOpacity=_dimmed(sel),
            tooltip=[
                alt.Tooltip("label:N", title=granularity.label),
                alt.Tooltip(f"{column}:Q", title=what, format=",d"),
                *_BUCKET_TOOLTIPS,
            ],
        )
        .add_params(sel)
    )


def active_users_chart(frame: pd.DataFrame, granularity: Granularity) -> alt.Chart:
    return _count_chart(frame, granularity, "active_users", "Active users", "Active users", ACTIVE)


def credits_chart(frame: pd.DataFrame, granularity: Granularity) -> alt.Chart:
    """Stacked built-in and top-up bars; each row carries all three sums for the tooltip."""
    data = chart_frame(frame, granularity)
    long = pd.concat(
        [
            data.assign(kind=BUILTIN_LABEL, credits=data["builtin"], stack=0),
            data.assign(kind=TOPUP_LABEL, credits=data["topup"], stack=1),
        ],
        ignore_index=True,
    )
    sel = _selection()
    return (
        _base(long)
        .mark_bar()
        .encode(
            x=_x(len(data)),
            y=alt.Y("credits:Q", title="AI Credits", stack="zero"),
            color=alt.Color(
                "kind:N",
                scale=alt.Scale(domain=[BUILTIN_LABEL, TOPUP_LABEL], range=[BUILTIN, TOPUP]),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
            order=alt.Order("stack:Q", sort="ascending"),
            opacity=_opacity(data),
            fillOpacity=_dimmed(sel),
            tooltip=[
                alt.Tooltip("label:N", title=granularity.label),
                alt.Tooltip("total:Q", title="Total AI Credits", format=",.2f"),
                alt.Tooltip("builtin:Q", title=BUILTIN_LABEL, format=",.2f"),
                alt.Tooltip("topup:Q", title=TOPUP_LABEL, format=",.2f"),
                *_BUCKET_TOOLTIPS,
            ],
        )
        .add_params(sel)
    )


def limit_hits_chart(frame: pd.DataFrame, granularity: Granularity) -> alt.Chart:
    return _count_chart(
        frame, granularity, "limit_hit_users", "Users", "Users who hit their limit", HITS
    )


SERIES_COLUMNS = {
    "active": ["active_users"],
    "credits": ["builtin", "topup", "total"],
    "hits": ["limit_hit_users"],
}


def series_csv(frame: pd.DataFrame, chart: str) -> bytes:
    """The numbers behind one chart, one row per bucket, with ISO dates for spreadsheets."""
    out = pd.DataFrame(
        {
            "bucket": [ts.date().isoformat() for ts in frame["bucket"]],
            "first_day": [ts.date().isoformat() for ts in frame["first_day"]],
            "last_day": [ts.date().isoformat() for ts in frame["last_day"]],
            "partial": frame["partial"].to_numpy(),
        }
    )
    for col in SERIES_COLUMNS[chart]:
        out[col] = frame[col].to_numpy()
    return out.to_csv(index=False).encode()
