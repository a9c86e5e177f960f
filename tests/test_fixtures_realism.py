"""Statistical checks that the generated organization looks like one an admin would believe.

Tolerances are deliberately loose: they catch a broken rhythm or a missing scenario, not noise.
"""

from __future__ import annotations

from datetime import date

import holidays
import numpy as np
import pandas as pd
import pytest

from tests.generated_orgs import EXCLUDED, counted, ledger, main_dataset, tables

TZ = "Europe/Prague"


@pytest.fixture(scope="module")
def ds():
    path, summary = main_dataset()
    t = tables(path)
    req = t["requests"]
    req["local"] = req["ts"].dt.tz_convert(TZ)
    return path, summary, t, req, counted(req)


def _per_day(frame: pd.DataFrame, start: date, end: date) -> pd.Series:
    days = pd.date_range(start, end, freq="D").date
    return frame["local"].dt.date.value_counts().reindex(days, fill_value=0)


def test_weekdays_are_far_busier_than_weekends(ds):
    _, s, _, _, cnt = ds
    per_day = _per_day(cnt, s.start, s.end)
    weekend = np.array([d.weekday() >= 5 for d in per_day.index])
    assert per_day[~weekend].mean() > 3 * per_day[weekend].mean()


def test_public_holidays_are_quiet(ds):
    _, s, _, _, cnt = ds
    per_day = _per_day(cnt, s.start, s.end)
    cz = holidays.country_holidays("CZ", years=[2026])
    off = [d for d in per_day.index if d in cz and d.weekday() < 5]
    work = [d for d in per_day.index if d not in cz and d.weekday() < 5 and d.month in (4, 5)]
    assert len(off) >= 3
    assert per_day[off].mean() < 0.4 * per_day[work].mean()


def test_working_hours_in_local_time(ds):
    _, _, _, _, cnt = ds
    weekday = cnt[cnt["local"].dt.day_of_week < 5]
    hours = weekday["local"].dt.hour
    assert hours.between(8, 17).mean() > 0.75
    assert hours.between(0, 5).mean() < 0.03
    offset = (hours - weekday["ts"].dt.hour) % 24
    assert set(offset) <= {1, 2} and 2 in set(offset)


def test_monthly_active_users_grow(ds):
    _, _, _, _, cnt = ds
    mau = cnt.groupby(cnt["local"].dt.month)["user_id"].nunique()
    assert mau.iloc[0] < mau.iloc[-3:].min()
    assert mau.iloc[0] < 0.6 * mau.max()


def test_summer_dip_of_established_users(ds):
    """Adoption still grows in summer, so compare people who were already using AI in April."""
    _, s, _, _, cnt = ds
    first = cnt.groupby("user_id")["local"].min()
    established = first[first < pd.Timestamp("2026-05-01", tz=TZ)].index
    days = cnt.loc[cnt["user_id"].isin(established), ["user_id", "local"]]
    active_days = days.assign(day=days["local"].dt.date)[["user_id", "day"]].drop_duplicates()
    cz = holidays.country_holidays("CZ", years=[2026])
    workdays = pd.Series(
        [d.month for d in pd.date_range(s.start, s.end).date if d.weekday() < 5 and d not in cz]
    ).value_counts()
    month = pd.to_datetime(active_days["day"]).dt.month.to_numpy()
    per_workday = active_days.groupby(month).size() / workdays
    assert (per_workday[7] + per_workday[8]) / 2 < 0.9 * per_workday[6]


def test_some_licensed_users_never_use_ai_and_some_stop(ds):
    _, s, t, _, cnt = ds
    licensed = set(t["licenses"]["user_id"])
    active = set(cnt["user_id"])
    assert 0.03 < len(licensed - active) / len(licensed) < 0.5
    last = cnt.groupby("user_id")["local"].max()
    stopped = last < pd.Timestamp(s.end, tz=TZ) - pd.Timedelta(days=45)
    assert stopped.any()


def test_zero_credit_events_are_there_in_volume(ds):
    _, _, _, req, cnt = ds
    zero = req[req["credits"] == 0]
    assert set(zero["tool"]) >= {"code_completion", "next_edit_suggestion", "ai_assistant_chat"}
    assert (req.loc[req["tool"].isin(EXCLUDED), "credits"] == 0).all()
    assert 0.5 < 1 - len(cnt) / len(req) < 0.95
    local_chat = zero["tool"] == "ai_assistant_chat"
    assert 0 < local_chat.sum() < 0.2 * len(zero)


def test_tools_and_their_costs(ds):
    _, _, _, _, cnt = ds
    tools = cnt["tool"].value_counts(normalize=True)
    assert {"junie", "claude_agent", "ai_assistant_chat"} <= set(tools.index)
    other = tools.drop(["junie", "claude_agent", "ai_assistant_chat"])
    assert 0.01 < other.sum() < 0.2
    median = cnt.groupby([cnt["tool"], cnt["mode"].fillna("-")])["credits"].median()
    assert median[("junie", "code")] > 5 * median[("ai_assistant_chat", "-")]
    assert median[("claude_agent", "-")] > 5 * median[("ai_assistant_chat", "-")]
    assert median[("junie", "code")] > median[("junie", "ask")]
    assert cnt.loc[cnt["tool"] == "ai_assistant_chat", "credits"].max() <= 0.5


def test_claude_agent_launches_mid_span(ds):
    _, s, _, req, _ = ds
    launch = pd.Timestamp(s.claude_launch, tz=TZ)
    claude = req.loc[req["tool"] == "claude_agent", "local"]
    assert (claude >= launch).all() and len(claude)
    assert 0.4 < (s.claude_launch - s.start).days / (s.end - s.start).days < 0.6
    assert len(req[(req["local"] < launch) & (req["tool"] == "junie")])


def test_intensity_is_heavy_tailed(ds):
    _, _, _, _, cnt = ds
    per_user = cnt.groupby("user_id")["credits"].sum().sort_values(ascending=False)
    top = per_user.iloc[: max(1, len(per_user) // 10)].sum()
    assert top > 0.35 * per_user.sum()
    monthly = cnt.groupby(["user_id", cnt["local"].dt.month])["credits"].sum()
    assert monthly.median() < 20


def test_nobody_spends_after_using_up_the_allowance(ds):
    path, _, _, _, _ = ds
    led = ledger(path, TZ)
    assert (led["spent_before"] < led["allowance"]).all()


def test_share_of_users_who_hit_their_allowance(ds):
    path, s, t, _, cnt = ds
    led = ledger(path, TZ)
    hit_users = led.loc[led["hit"], "user_id"].nunique()
    assert hit_users == s.users_hit
    assert 0.03 <= hit_users / cnt["user_id"].nunique() <= 0.4


def test_org_default_top_up_is_used_after_it_changes(ds):
    path, _, t, _, _ = ds
    led = ledger(path, TZ)
    org = t["topups"][t["topups"]["user_id"].isna()].sort_values("effective_from")
    change = org["effective_from"].iloc[-1]
    builtin_over = led["spent_after"] > np.rint(led["monthly_quota"] * 1e6)
    assert (builtin_over & (led["ts"] >= change)).any()


def test_admins_raise_a_limit_after_a_hit(ds):
    path, _, t, _, _ = ds
    led = ledger(path, TZ)
    hits = led[led["hit"]][["user_id", "license_id", "period", "ts"]]
    own = t["topups"][t["topups"]["user_id"].notna()]
    pairs = hits.merge(own, on="user_id")
    later = pairs[
        (pairs["effective_from"] > pairs["ts"])
        & (pairs["effective_from"] < pairs["ts"] + pd.Timedelta(days=4))
    ]
    assert len(later)
    resumed = led.merge(
        later[["license_id", "period", "effective_from"]], on=["license_id", "period"]
    )
    assert (resumed["ts"] > resumed["effective_from"]).any()


def test_thirty_day_cycles_are_used(ds):
    path, _, t, _, cnt = ds
    anchored = t["licenses"].loc[t["licenses"]["cycle_anchor"].notna(), "license_id"]
    assert cnt["license_id"].isin(anchored).any()
