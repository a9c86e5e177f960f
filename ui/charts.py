"""Altair chart builders for the three metrics.

Pure functions from a report's frame to an `alt.Chart`, so the Vega-Lite they produce can be
tested through `to_dict()` without a running app.

Streamlit updates a keyed chart in place, and Vega then keeps a nominal axis in the order in
which values first arrived. So every bar has a unique label and the axis is sorted by the
bucket's first day (`order`), never by arrival: an updated chart draws what a fresh one does.
"""

from __future__ import annotations

from collections.abc import Sequence
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
ACTIVE_LABEL = "Active users"
HITS_LABEL = "Users who hit their limit"
SELECTION = "pick"
HEIGHT = 240
_EPOCH = date(1970, 1, 1)


def bucket_label(first: date, granularity: Granularity, with_year: bool = False) -> str:
    """Short axis labels; `with_year` where the chart spans more than one year, so that no
    two bars share a label (weeks carry their ISO year, as their number does)."""
    if granularity is Granularity.DAY:
        return f"{first:%b} {first.day}" + (f", {first.year}" if with_year else "")
    if granularity is Granularity.WEEK:
        iso = first.isocalendar()
        week = f"W{iso.week} {iso.year}" if with_year else f"W{iso.week}"
        return f"{week} · {first:%b} {first.day}"
    if granularity is Granularity.MONTH:
        return f"{first:%b %Y}"
    return f"{first:%Y}"


def spans_years(firsts: Sequence[date], granularity: Granularity) -> bool:
    years = {d.year for d in firsts}
    if granularity is Granularity.WEEK:
        years |= {d.isocalendar().year for d in firsts}
    return len(years) > 1


def day_range(first: date, last: date) -> str:
    if first == last:
        return f"{first:%b} {first.day}, {first.year}"
    if first.year == last.year:
        return f"{first:%b} {first.day} – {last:%b} {last.day}, {last.year}"
    return f"{first:%b} {first.day}, {first.year} – {last:%b} {last.day}, {last.year}"


def chart_frame(frame: pd.DataFrame, granularity: Granularity) -> pd.DataFrame:
    """Adds the label, order, day-range and coverage columns every chart and tooltip shares.

    `first` and `last` are ISO strings because they are the selection fields: a clicked bar
    comes back from the browser as exactly the days to drill into.
    """
    out = frame.copy()
    starts = [ts.date() for ts in out["bucket"]]
    firsts = [ts.date() for ts in out["first_day"]]
    lasts = [ts.date() for ts in out["last_day"]]
    with_year = spans_years(starts, granularity)
    out["label"] = [bucket_label(d, granularity, with_year) for d in starts]
    out["order"] = [(d - _EPOCH).days for d in starts]
    out["days"] = [day_range(f, la) for f, la in zip(firsts, lasts, strict=True)]
    out["first"] = [d.isoformat() for d in firsts]
    out["last"] = [d.isoformat() for d in lasts]
    out["coverage"] = ["Partial" if p else "Whole" for p in out["partial"]]
    return out.drop(columns=["bucket", "first_day", "last_day"])


def _x(n: int) -> alt.X:
    return alt.X(
        "label:N",
        sort=alt.EncodingSortField(field="order", op="min", order="ascending"),
        title=None,
        axis=alt.Axis(labelAngle=0 if n <= 14 else -45, labelOverlap=True, ticks=False),
    )


def _opacity() -> alt.Opacity:
    """Partial buckets are lighter; the note under the chart says why, so no second legend."""
    return alt.Opacity(
        "coverage:O",
        sort=["Whole", "Partial"],
        scale=alt.Scale(domain=["Whole", "Partial"], range=[1.0, PARTIAL_OPACITY]),
        legend=None,
    )


def _color(domain: list[str], colors: list[str]) -> alt.Color:
    """Every chart has exactly one legend, naming its series, so all three are equally tall."""
    return alt.Color(
        "series:N",
        scale=alt.Scale(domain=domain, range=colors),
        legend=alt.Legend(
            title=None, orient="top", direction="horizontal", labelLimit=0, offset=6, padding=0
        ),
    )


def _selection(pick: tuple[str, str] | None) -> alt.Parameter:
    """A click picks a bucket by its days; `pick` restores one named by the URL."""
    value = [{"first": pick[0], "last": pick[1]}] if pick else alt.Undefined
    return alt.selection_point(name=SELECTION, fields=["first", "last"], on="click", value=value)


def _dimmed(sel: alt.Parameter, faded: float = 0.3) -> alt.FillOpacityValue:
    """A clicked bar stays as it is and the others fade, on top of the partial-bucket opacity.

    The channel itself rather than `alt.condition`'s dict, which `encode` would match against
    every class of the Vega-Lite schema, on every rerun, to find this one.
    """
    return alt.FillOpacityValue(faded, condition={"param": sel.name, "value": 1.0})


def _title(text: str, granularity: Granularity, subtitle: Sequence[str]) -> alt.TitleParams:
    """Carried by exported images too, so a PNG says what, when and whose."""
    return alt.TitleParams(
        f"{text} per {granularity.value}",
        subtitle=list(subtitle) or alt.Undefined,
        anchor="start",
        fontSize=13,
        subtitleFontSize=11,
        subtitleColor="#6B6F76",
        offset=10,
    )


def _base(data: pd.DataFrame, title: alt.TitleParams) -> alt.Chart:
    """`fit-x`: the bars get `HEIGHT` pixels whatever the title and legend take, and as every
    chart has the same title lines and one legend row, all three come out equally tall."""
    return alt.Chart(data, title=title).properties(
        height=HEIGHT,
        width="container",
        autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
    )


_BUCKET_TOOLTIPS = [
    alt.Tooltip("days:N", title="Days"),
    alt.Tooltip("coverage:N", title="Bucket"),
]


def _count_chart(
    frame: pd.DataFrame,
    granularity: Granularity,
    column: str,
    title: str,
    what: str,
    color: str,
    subtitle: Sequence[str],
    pick: tuple[str, str] | None,
) -> alt.Chart:
    """One bar per bucket of a count of distinct users."""
    data = chart_frame(frame, granularity).assign(series=what)
    sel = _selection(pick)
    return (
        _base(data, _title(title, granularity, subtitle))
        .mark_bar(cornerRadiusTopLeft=3, cornerRadiusTopRight=3)
        .encode(
            x=_x(len(data)),
            y=alt.Y(f"{column}:Q", title=what, axis=alt.Axis(tickMinStep=1)),
            color=_color([what], [color]),
            opacity=_opacity(),
            fillOpacity=_dimmed(sel),
            tooltip=[
                alt.Tooltip("label:N", title=granularity.label),
                alt.Tooltip(f"{column}:Q", title=what, format=",d"),
                *_BUCKET_TOOLTIPS,
            ],
        )
        .add_params(sel)
    )


def active_users_chart(
    frame: pd.DataFrame,
    granularity: Granularity,
    subtitle: Sequence[str] = (),
    pick: tuple[str, str] | None = None,
) -> alt.Chart:
    return _count_chart(
        frame,
        granularity,
        "active_users",
        "Active AI users",
        ACTIVE_LABEL,
        ACTIVE,
        subtitle,
        pick,
    )


def credits_chart(
    frame: pd.DataFrame,
    granularity: Granularity,
    subtitle: Sequence[str] = (),
    pick: tuple[str, str] | None = None,
) -> alt.Chart:
    """Stacked built-in and top-up bars; each row carries all three sums for the tooltip."""
    data = chart_frame(frame, granularity)
    long = pd.concat(
        [
            data.assign(series=BUILTIN_LABEL, credits=data["builtin"], stack=0),
            data.assign(series=TOPUP_LABEL, credits=data["topup"], stack=1),
        ],
        ignore_index=True,
    )
    sel = _selection(pick)
    return (
        _base(long, _title("AI Credits", granularity, subtitle))
        .mark_bar()
        .encode(
            x=_x(len(data)),
            y=alt.Y("credits:Q", title="AI Credits", stack="zero"),
            color=_color([BUILTIN_LABEL, TOPUP_LABEL], [BUILTIN, TOPUP]),
            order=alt.Order("stack:Q", sort="ascending"),
            opacity=_opacity(),
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


def limit_hits_chart(
    frame: pd.DataFrame,
    granularity: Granularity,
    subtitle: Sequence[str] = (),
    pick: tuple[str, str] | None = None,
) -> alt.Chart:
    return _count_chart(
        frame,
        granularity,
        "limit_hit_users",
        "Users who hit their limit",
        HITS_LABEL,
        HITS,
        subtitle,
        pick,
    )


SERIES_COLUMNS = {
    "active": ["active_users"],
    "credits": ["builtin", "topup", "total"],
    "hits": ["limit_hit_users"],
}


def series_csv(frame: pd.DataFrame, chart: str, price=None) -> bytes:
    """The numbers behind one chart, one row per bucket, with ISO dates for spreadsheets; the
    credits chart's total also as an estimate of money at `price` (a `ui.cost.Price`)."""
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
    if chart == "credits" and price is not None:
        out = out.assign(**price.estimate_columns(frame["total"].to_numpy()))
    return out.to_csv(index=False).encode()


# -- Teams and Planning ----------------------------------------------------------------------

BELOW = "Below the organization"
AT_OR_ABOVE = "At or above the organization"
BELOW_COLOR = "#FF9F43"
TEAM_PICK = "team_pick"
TEAM_BAR = 22


def adoption_chart(
    teams: pd.DataFrame, organization: float | None, subtitle: Sequence[str] = ()
) -> alt.LayerChart:
    """Adoption per team as horizontal bars, least adopting on top, and the organization's
    figure as a rule: which teams adopt least is one glance. A click picks a team by `label`.

    `teams` is `ui.frames.teams_frame`; rows without licensed users have no adoption and are
    not drawn. The order is explicit (`rank`), so a chart updated in place draws what a fresh
    one does.
    """
    data = teams[teams["adoption"].notna()].copy()
    data = data.sort_values(["adoption", "label"], kind="stable")
    data["rank"] = range(len(data))
    data["series"] = [
        BELOW if organization is not None and a < organization else AT_OR_ABOVE
        for a in data["adoption"]
    ]
    data = data[["label", "rank", "series", "adoption", "licensed_users", "active_users", "total"]]
    sel = alt.selection_point(name=TEAM_PICK, fields=["label"], on="click")
    percent = alt.Axis(
        format="%", grid=True, tickCount=5, title="Adoption: licensed users who are active"
    )
    bars = (
        alt.Chart(data)
        .mark_bar(cornerRadiusTopRight=3, cornerRadiusBottomRight=3, cursor="pointer")
        .encode(
            y=alt.Y(
                "label:N",
                sort=alt.EncodingSortField(field="rank", op="min", order="ascending"),
                title=None,
                axis=alt.Axis(labelLimit=180, ticks=False),
            ),
            x=alt.X("adoption:Q", scale=alt.Scale(domain=[0, 1]), axis=percent),
            color=alt.Color(
                "series:N",
                scale=alt.Scale(domain=[BELOW, AT_OR_ABOVE], range=[BELOW_COLOR, ACTIVE]),
                # One entry per line: side by side they ran past a narrow chart's edge.
                legend=alt.Legend(
                    title=None, orient="top", direction="vertical", labelLimit=0, padding=0
                ),
            ),
            fillOpacity=_dimmed(sel, 0.35),
            tooltip=[
                alt.Tooltip("label:N", title="Team"),
                alt.Tooltip("adoption:Q", title="Adoption", format=".1%"),
                alt.Tooltip("active_users:Q", title="Active users", format=",d"),
                alt.Tooltip("licensed_users:Q", title="Licensed users", format=",d"),
                alt.Tooltip("total:Q", title="AI Credits", format=",.1f"),
            ],
        )
        .add_params(sel)
    )
    layers: list[alt.Chart] = [bars]
    if organization is not None:
        org = pd.DataFrame(
            {"adoption": [organization], "text": [f"Organization {organization:.1%}"]}
        )
        rule = alt.Chart(org).mark_rule(color="#1F2328", strokeDash=[4, 3], strokeWidth=1.5)
        layers.append(
            rule.encode(
                x="adoption:Q",
                tooltip=[alt.Tooltip("adoption:Q", title="Organization", format=".1%")],
            )
        )
        # Written on the side of the rule with more room, so it never runs past the chart.
        right = organization > 0.5
        layers.append(
            alt.Chart(org)
            .mark_text(
                align="right" if right else "left",
                baseline="bottom",
                dx=-4 if right else 4,
                dy=-2,
                fontSize=11,
                color="#1F2328",
            )
            .encode(x="adoption:Q", y=alt.value(0), text="text:N")
        )
    return alt.layer(*layers).properties(
        title=alt.TitleParams(
            "Adoption by team",
            subtitle=list(subtitle) or alt.Undefined,
            anchor="start",
            fontSize=13,
            subtitleFontSize=11,
            subtitleColor="#6B6F76",
            offset=10,
        ),
        height=max(TEAM_BAR * len(data), 60),
        width="container",
        autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
    )


BAND_COLORS = ["#C9CED6", "#5B8DEF", "#FF9F43", "#E5484D"]


def bands_chart(bands: pd.DataFrame, subtitle: Sequence[str] = ()) -> alt.Chart:
    """Users by the share of their allowance used in the last whole quota period, one bar per
    band in the bands' own order (`< 20 %` to `hit`), so that a redraw keeps it."""
    from metrics.views import BANDS

    data = bands.assign(order=[BANDS.index(b) for b in bands["band"]])
    return (
        alt.Chart(
            data,
            title=alt.TitleParams(
                "Users by allowance used",
                subtitle=list(subtitle) or alt.Undefined,
                anchor="start",
                fontSize=13,
                subtitleFontSize=11,
                subtitleColor="#6B6F76",
                offset=10,
            ),
        )
        .mark_bar(cornerRadiusTopLeft=3, cornerRadiusTopRight=3)
        .encode(
            x=alt.X(
                "band:N",
                sort=alt.EncodingSortField(field="order", op="min", order="ascending"),
                title="Share of the allowance used in the last whole quota period",
                axis=alt.Axis(labelAngle=0, ticks=False),
            ),
            y=alt.Y("users:Q", title="Users", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color(
                "band:N", scale=alt.Scale(domain=list(BANDS), range=BAND_COLORS), legend=None
            ),
            tooltip=[
                alt.Tooltip("band:N", title="Allowance used"),
                alt.Tooltip("users:Q", title="Users", format=",d"),
                alt.Tooltip("share:Q", title="Of the licensed users", format=".1%"),
            ],
        )
        .properties(
            height=200,
            width="container",
            autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
        )
    )
