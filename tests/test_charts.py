"""The chart builders through their Vega-Lite: order, labels, legends, titles, selection, CSV."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import pytest

from metrics import Granularity, Period
from tests import datasets as d
from ui import charts

BUILDERS = [charts.active_users_chart, charts.credits_chart, charts.limit_hits_chart]


@pytest.fixture(scope="module")
def worked(tmp_path_factory):
    import metrics

    root = d.worked_example(tmp_path_factory.mktemp("worked"))
    return metrics.open_dataset(root, cache_dir=False)


@pytest.fixture(scope="module")
def report(worked):
    return worked.report(Period(date(2026, 1, 21), date(2026, 2, 28)), "month")


def inline_rows(spec: dict) -> list[dict]:
    (rows,) = spec["datasets"].values()
    return rows


def labels(spec: dict) -> list[str]:
    """The x labels in the order the axis draws them: sorted by the bucket's first day."""
    rows = pd.DataFrame(inline_rows(spec)).drop_duplicates("label")
    return rows.sort_values("order")["label"].tolist()


def test_active_users_chart(report):
    spec = charts.active_users_chart(report.frame(), report.granularity).to_dict()
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["y"]["field"] == "active_users"
    rows = inline_rows(spec)
    assert [r["active_users"] for r in rows] == [1, 1]
    assert [r["label"] for r in rows] == ["Jan 2026", "Feb 2026"]
    assert [r["coverage"] for r in rows] == ["Partial", "Whole"]
    assert rows[0]["days"] == "Jan 21 – Jan 31, 2026"
    tips = {t["field"] for t in spec["encoding"]["tooltip"]}
    assert {"label", "active_users", "days", "coverage"} <= tips


@pytest.mark.parametrize("build", BUILDERS)
def test_the_axis_is_ordered_by_the_buckets_first_day(report, build):
    """Never by the order values arrive in: Streamlit updates a chart's data in place."""
    spec = build(report.frame(), report.granularity).to_dict()
    x = spec["encoding"]["x"]
    assert x["field"] == "label" and x["type"] == "nominal"
    assert x["sort"] == {"field": "order", "op": "min", "order": "ascending"}
    rows = inline_rows(spec)
    assert {r["label"]: r["order"] for r in rows} == {"Jan 2026": 20454, "Feb 2026": 20485}


@pytest.mark.parametrize(
    ("gran", "first", "last", "n"),
    [
        (Granularity.DAY, date(2025, 10, 1), date(2026, 11, 30), 426),
        (Granularity.WEEK, date(2025, 10, 1), date(2026, 11, 30), 62),
        (Granularity.MONTH, date(2025, 10, 1), date(2026, 11, 30), 14),
    ],
)
def test_every_bucket_has_its_own_label_over_more_than_a_year(worked, gran, first, last, n):
    frame = worked.report(Period(first, last), gran).frame()
    spec = charts.active_users_chart(frame, gran).to_dict()
    shown = labels(spec)
    assert len(shown) == len(set(shown)) == n
    orders = [r["order"] for r in inline_rows(spec)]
    assert orders == sorted(orders)


def test_labels_carry_the_year_only_when_the_chart_spans_years(worked):
    one_year = worked.report(Period(date(2026, 11, 1), date(2026, 11, 30)), "day").frame()
    assert labels(charts.active_users_chart(one_year, Granularity.DAY).to_dict())[:2] == [
        "Nov 1",
        "Nov 2",
    ]
    two = worked.report(Period(date(2025, 11, 1), date(2026, 11, 30)), "day").frame()
    shown = labels(charts.active_users_chart(two, Granularity.DAY).to_dict())
    assert shown[0] == "Nov 1, 2025" and shown[-1] == "Nov 30, 2026"
    assert "Nov 1, 2026" in shown


@pytest.mark.parametrize(
    ("gran", "with_year", "label"),
    [
        (Granularity.DAY, False, "Mar 2"),
        (Granularity.DAY, True, "Mar 2, 2026"),
        (Granularity.WEEK, False, "W10 · Mar 2"),
        (Granularity.WEEK, True, "W10 2026 · Mar 2"),
        (Granularity.MONTH, False, "Mar 2026"),
        (Granularity.YEAR, False, "2026"),
    ],
)
def test_bucket_labels(gran, with_year, label):
    assert charts.bucket_label(date(2026, 3, 2), gran, with_year) == label


def test_a_week_is_labelled_with_its_iso_year():
    assert charts.bucket_label(date(2025, 12, 29), Granularity.WEEK, True) == "W1 2026 · Dec 29"
    assert charts.spans_years([date(2025, 12, 29)], Granularity.WEEK)


@pytest.mark.parametrize("build", BUILDERS)
def test_one_legend_per_chart_and_partial_buckets_lighter_without_one(report, build):
    spec = build(report.frame(), report.granularity).to_dict()
    enc = spec["encoding"]
    legends = [ch for ch, e in enc.items() if isinstance(e, dict) and e.get("legend") is not None]
    assert legends == ["color"]
    assert enc["color"]["legend"]["orient"] == "top"
    opacity = enc["opacity"]
    assert opacity["field"] == "coverage" and opacity["legend"] is None
    assert opacity["scale"] == {"domain": ["Whole", "Partial"], "range": [1.0, 0.4]}
    assert spec["height"] == charts.HEIGHT


def test_credits_chart_stacks_builtin_under_topup(report):
    spec = charts.credits_chart(report.frame(), report.granularity).to_dict()
    enc = spec["encoding"]
    assert enc["y"]["stack"] == "zero"
    assert enc["color"]["scale"]["domain"] == ["Built-in quota", "Top-up AI Credits"]
    assert enc["color"]["scale"]["range"] == [charts.BUILTIN, charts.TOPUP]
    assert enc["order"]["field"] == "stack"
    rows = pd.DataFrame(inline_rows(spec))
    built = rows[rows["series"] == "Built-in quota"]["credits"].tolist()
    top = rows[rows["series"] == "Top-up AI Credits"]["credits"].tolist()
    assert built == [0.0, 3.0]
    assert top == [3.0, 0.0]
    assert {t["field"] for t in enc["tooltip"]} >= {"total", "builtin", "topup"}


def test_limit_hits_chart(report):
    spec = charts.limit_hits_chart(report.frame(), report.granularity).to_dict()
    assert spec["encoding"]["color"]["scale"]["range"] == [charts.HITS]
    assert [r["limit_hit_users"] for r in inline_rows(spec)] == [1, 0]


@pytest.mark.parametrize("build", BUILDERS)
def test_the_title_says_what_when_and_whose_for_exported_images(report, build):
    subtitle = ["Acme · Jan 21 – Feb 28, 2026", "All teams · all tools"]
    spec = build(report.frame(), report.granularity, subtitle).to_dict()
    assert spec["title"]["text"].endswith("per month")
    assert spec["title"]["subtitle"] == subtitle


@pytest.mark.parametrize("build", BUILDERS)
def test_every_chart_selects_a_bucket_by_its_days(report, build):
    spec = build(report.frame(), report.granularity).to_dict()
    (param,) = spec["params"]
    assert param["name"] == charts.SELECTION
    assert param["select"] == {"type": "point", "fields": ["first", "last"], "on": "click"}
    assert "value" not in param
    fill = spec["encoding"]["fillOpacity"]
    assert fill["condition"] == {"param": charts.SELECTION, "value": 1.0}
    assert fill["value"] == 0.3
    firsts = {r["first"] for r in inline_rows(spec)}
    assert firsts == {"2026-01-21", "2026-02-01"}


def test_a_picked_bucket_is_selected_when_the_chart_is_drawn(report):
    pick = ("2026-02-01", "2026-02-28")
    spec = charts.credits_chart(report.frame(), report.granularity, (), pick).to_dict()
    (param,) = spec["params"]
    assert param["value"] == [{"first": "2026-02-01", "last": "2026-02-28"}]


def _draw(frame, granularity, pick, streamlits_own):
    import streamlit as st

    from ui import charts, components

    draw = st.altair_chart if streamlits_own else components.altair_chart
    for build in (charts.active_users_chart, charts.credits_chart, charts.limit_hits_chart):
        chart = build(frame, granularity, ["Org · Jan 21 – Feb 28, 2026"], pick)
        draw(chart, on_select="rerun", selection_mode=charts.SELECTION, key=build.__name__)


@pytest.mark.parametrize("pick", [None, ("2026-02-01", "2026-02-28")])
def test_the_app_draws_the_very_chart_st_altair_chart_draws(report, pick):
    """`components.altair_chart` leaves out only Altair's schema check: the spec, its datasets,
    the element's id and its selection are those of `st.altair_chart`, so clicks and in-place
    updates behave the same."""
    from streamlit.testing.v1 import AppTest

    drawn = []
    for streamlits_own in (True, False):
        at = AppTest.from_function(
            _draw, args=(report.frame(), report.granularity, pick, streamlits_own)
        )
        at.run()
        assert not at.exception
        drawn.append(
            [
                (c.proto.id, c.proto.spec, list(c.proto.selection_mode))
                + tuple((d.name, d.data.data) for d in c.proto.datasets)
                for c in at.get("vega_lite_chart")
            ]
        )
    assert len(drawn[0]) == 3
    assert drawn[0] == drawn[1]


def test_day_range():
    assert charts.day_range(date(2026, 1, 5), date(2026, 1, 5)) == "Jan 5, 2026"
    assert charts.day_range(date(2025, 12, 29), date(2026, 1, 4)) == "Dec 29, 2025 – Jan 4, 2026"


def test_series_csv(report):
    frame = pd.read_csv(io.BytesIO(charts.series_csv(report.frame(), "credits")))
    assert list(frame.columns) == [
        "bucket",
        "first_day",
        "last_day",
        "partial",
        "builtin",
        "topup",
        "total",
    ]
    assert frame["bucket"].tolist() == ["2026-01-01", "2026-02-01"]
    assert frame["first_day"].tolist() == ["2026-01-21", "2026-02-01"]
    assert frame["total"].tolist() == [3.0, 3.0]
    hits = pd.read_csv(io.BytesIO(charts.series_csv(report.frame(), "hits")))
    assert hits["limit_hit_users"].tolist() == [1, 0]


# -- Teams, Planning and cost ----------------------------------------------------------------


def teams_frame(adoptions: dict) -> pd.DataFrame:
    """A frame shaped like `ui.frames.teams_frame`, adoption given per label (None: nobody
    licensed)."""
    return pd.DataFrame(
        {
            "team": [None if k == "No team" else k for k in adoptions],
            "label": list(adoptions),
            "licensed_users": [0 if a is None else 10 for a in adoptions.values()],
            "active_users": [0 if a is None else round(10 * a) for a in adoptions.values()],
            "adoption": [float("nan") if a is None else a for a in adoptions.values()],
            "total": [1.0] * len(adoptions),
        }
    )


def layer_data(spec: dict, i: int) -> list[dict]:
    return spec["datasets"][spec["layer"][i]["data"]["name"]]


def test_adoption_chart_draws_the_least_adopting_team_first_whatever_the_rows_order():
    frame = teams_frame({"Web": 0.9, "QA": 0.3, "No team": 0.5, "Data": 0.3, "Idle": None})
    spec = charts.adoption_chart(frame, 0.6, ["Org"]).to_dict()
    bars, rule, text = spec["layer"]
    assert bars["encoding"]["y"]["sort"] == {"field": "rank", "op": "min", "order": "ascending"}
    drawn = sorted(layer_data(spec, 0), key=lambda r: r["rank"])
    # Ties in adoption are ordered by name, so a redraw never swaps them.
    assert [r["label"] for r in drawn] == ["Data", "QA", "No team", "Web"]
    assert "Idle" not in {r["label"] for r in drawn}
    assert [r["series"] for r in drawn] == [charts.BELOW] * 3 + [charts.AT_OR_ABOVE]
    assert layer_data(spec, 1) == [{"adoption": 0.6, "text": "Organization 60.0%"}]
    assert rule["mark"]["type"] == "rule" and text["mark"]["type"] == "text"
    (param,) = spec["params"]
    assert param["name"] == charts.TEAM_PICK and param["select"]["fields"] == ["label"]
    assert spec["title"]["text"] == "Adoption by team" and spec["title"]["subtitle"] == ["Org"]
    reordered = charts.adoption_chart(frame.iloc[::-1], 0.6, ["Org"]).to_dict()
    assert sorted(layer_data(reordered, 0), key=lambda r: r["rank"]) == drawn


def test_adoption_chart_without_an_organization_figure_has_no_rule():
    spec = charts.adoption_chart(teams_frame({"Web": 0.9}), None).to_dict()
    assert len(spec["layer"]) == 1


def test_bands_chart_keeps_the_bands_order():
    from metrics.views import BANDS
    from ui import frames

    seats = pd.DataFrame({"band": ["hit", "< 20 %", "hit", None, "≥ 80 %"]})
    bands = frames.bands_frame(seats)
    assert bands["users"].tolist() == [1, 0, 1, 2]
    assert bands["share"].tolist() == pytest.approx([0.25, 0.0, 0.25, 0.5])
    spec = charts.bands_chart(bands).to_dict()
    assert spec["encoding"]["x"]["sort"] == {"field": "order", "op": "min", "order": "ascending"}
    (rows,) = spec["datasets"].values()
    assert [r["band"] for r in sorted(rows, key=lambda r: r["order"])] == list(BANDS)


@pytest.mark.parametrize(
    ("price", "currency", "credits", "text"),
    [
        (1.0, "USD", 1234.4, "≈ $1,234 at $1.00 per credit"),
        (1.0, "USD", 12.345, "≈ $12.35 at $1.00 per credit"),
        (0.0125, "EUR", 100_000, "≈ €1,250 at €0.0125 per credit"),
        (2.0, "CZK", 50, "≈ 100 CZK at 2.00 CZK per credit"),
        (1.0, "USD", 0, "≈ $0.00 at $1.00 per credit"),
    ],
)
def test_cost_is_written_as_an_estimate_at_its_price(price, currency, credits, text):
    from ui.cost import Price

    assert Price(price, currency).estimate(credits) == text
    assert Price(price, currency).column() == f"cost_{currency.lower()}_estimate"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (1.0, "USD", None)),
        ({"AI_CONSOLE_CREDIT_PRICE": "0.04", "AI_CONSOLE_CURRENCY": "gbp"}, (0.04, "GBP", None)),
        ({"AI_CONSOLE_CREDIT_PRICE": "nan"}, (1.0, "USD", "AI_CONSOLE_CREDIT_PRICE")),
        ({"AI_CONSOLE_CREDIT_PRICE": "1e9"}, (1.0, "USD", "AI_CONSOLE_CREDIT_PRICE")),
        ({"AI_CONSOLE_CURRENCY": "€"}, (1.0, "USD", "AI_CONSOLE_CURRENCY")),
        (
            {"AI_CONSOLE_CREDIT_PRICE": "3", "AI_CONSOLE_CURRENCY": "US$"},
            (3.0, "USD", "AI_CONSOLE_CURRENCY"),
        ),
    ],
)
def test_price_settings_are_checked(monkeypatch, env, expected):
    from ui import cost

    monkeypatch.delenv("AI_CONSOLE_CREDIT_PRICE", raising=False)
    monkeypatch.delenv("AI_CONSOLE_CURRENCY", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    price, problem = cost.settings_or_default()
    assert (price.per_credit, price.currency) == expected[:2]
    assert (problem is None) == (expected[2] is None)
    if problem:
        assert problem.startswith(expected[2])


def test_the_credits_csv_carries_the_cost_at_its_price(report):
    from ui.cost import Price

    back = pd.read_csv(io.BytesIO(charts.series_csv(report.frame(), "credits", Price(0.5))))
    assert back["cost_usd_estimate"].tolist() == pytest.approx([1.5, 1.5])
    assert set(back["price_per_credit"]) == {0.5}
    active = pd.read_csv(io.BytesIO(charts.series_csv(report.frame(), "active", Price(0.5))))
    assert "cost_usd_estimate" not in active.columns
