"""The generated dataset keeps every rule of section 1 of the metrics contract."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fixtures
from fixtures import GeneratorConfig, OutputExistsError, generate
from fixtures.requests import request_ids
from tests.generated_orgs import MAIN_CONFIG, main_dataset, read_requests, tables

TS = pa.timestamp("us", tz="UTC")
TINY = GeneratorConfig.preset("small", users=30, months=2, end=date(2026, 2, 15), seed=3)


@pytest.fixture(scope="module")
def ds():
    path, summary = main_dataset()
    return path, summary, tables(path)


def test_layout_has_one_partition_per_month(ds):
    path, summary, _ = ds
    assert {p.name for p in path.iterdir()} == {
        "organization.json",
        "users.parquet",
        "licenses.parquet",
        "topup_limits.parquet",
        "requests",
        "generator.json",
    }
    months = sorted(p.name for p in (path / "requests").iterdir())
    assert months == [f"month=2026-{m:02d}" for m in range(3, 9)]
    for m in months:
        assert [p.name for p in (path / "requests" / m).iterdir()] == ["part-0.parquet"]
    assert summary.start == date(2026, 3, 1) and summary.end == date(2026, 8, 20)


def test_organization_json(ds):
    path, summary, _ = ds
    org = json.loads((path / "organization.json").read_text(encoding="utf-8"))
    assert org == {"name": summary.organization, "timezone": "Europe/Prague"}


@pytest.mark.parametrize(
    ("file", "schema"),
    [
        (
            "users.parquet",
            {
                "user_id": pa.string(),
                "name": pa.string(),
                "email": pa.string(),
                "team": pa.string(),
            },
        ),
        (
            "licenses.parquet",
            {
                "license_id": pa.string(),
                "user_id": pa.string(),
                "plan": pa.string(),
                "monthly_quota": pa.float64(),
                "valid_from": TS,
                "valid_until": TS,
                "cycle_anchor": TS,
            },
        ),
        (
            "topup_limits.parquet",
            {"user_id": pa.string(), "effective_from": TS, "monthly_limit": pa.float64()},
        ),
    ],
)
def test_entity_schemas(ds, file, schema):
    path, _, _ = ds
    got = pq.read_schema(path / file)
    assert {f.name: f.type for f in got} == schema


def test_request_partitions_have_the_contract_columns_and_no_month_column(ds):
    path, _, _ = ds
    for part in (path / "requests").glob("month=*/part-0.parquet"):
        got = pq.read_schema(part)
        assert {f.name: f.type for f in got} == {
            "request_id": pa.string(),
            "ts": TS,
            "user_id": pa.string(),
            "license_id": pa.string(),
            "tool": pa.string(),
            "mode": pa.string(),
            "credits": pa.float64(),
        }


def test_users(ds):
    _, _, t = ds
    users = t["users"]
    assert users["user_id"].is_unique and users["user_id"].notna().all()
    assert users["email"].is_unique
    domains = users["email"].str.split("@").str[1]
    assert domains.nunique() == 1
    assert users["name"].str.contains(" ").all()
    assert users["team"].isna().any() and users["team"].notna().mean() > 0.9
    sizes = users["team"].value_counts()
    assert len(sizes) >= 8 and sizes.iloc[0] >= 3 * sizes.iloc[-1]


def test_licenses(ds):
    _, _, t = ds
    lic, users = t["licenses"], t["users"]
    assert lic["license_id"].is_unique and lic["license_id"].notna().all()
    assert lic["user_id"].isin(users["user_id"]).all()
    quotas = lic.groupby("plan")["monthly_quota"].unique().map(list).to_dict()
    assert quotas == {"AI Pro": [20.0], "AI Ultimate": [70.0], "AI Enterprise": [150.0]}
    assert (lic.groupby("user_id").size() == 2).any()
    anchored = lic["cycle_anchor"].notna()
    assert 0 < anchored.mean() < 0.5
    assert (lic.loc[anchored, "cycle_anchor"] == lic.loc[anchored, "valid_from"]).all()
    start = pd.Timestamp("2026-03-01", tz="Europe/Prague")
    assert (lic["valid_from"] > start).any() and (lic["valid_from"] < start).any()
    revoked = lic[lic["valid_until"].notna()]
    assert len(revoked) and (revoked["valid_until"] > revoked["valid_from"]).all()
    assert (~users["user_id"].isin(lic["user_id"])).any()


def test_topup_limits(ds):
    _, _, t = ds
    top = t["topups"]
    org = top[top["user_id"].isna()].sort_values("effective_from")
    assert list(org["monthly_limit"]) == [0.0, 10.0]
    change = org["effective_from"].iloc[1].tz_convert("Europe/Prague")
    assert change.day == 1 and change.hour == 0
    own = top[top["user_id"].notna()]
    assert len(own) and own["user_id"].isin(t["users"]["user_id"]).all()
    assert (top["monthly_limit"] >= 0).all()


def test_requests_integrity(ds):
    _, summary, t = ds
    req, lic = t["requests"], t["licenses"]
    assert len(req) == summary.requests
    assert req["request_id"].is_unique
    assert req["request_id"].str.fullmatch(r"r\d{6}\d{8}").all()
    assert str(req["ts"].dt.tz) == "UTC"
    assert np.isfinite(req["credits"]).all() and (req["credits"] >= 0).all()
    owner = req["license_id"].map(lic.set_index("license_id")["user_id"])
    assert (owner == req["user_id"]).all()
    junie = req["tool"] == "junie"
    assert set(req.loc[junie, "mode"]) == {"code", "ask"}
    assert req.loc[~junie, "mode"].isna().all()


def test_requests_only_while_their_license_is_valid(ds):
    _, _, t = ds
    req = t["requests"].merge(t["licenses"], on=["license_id", "user_id"])
    assert (req["ts"] >= req["valid_from"]).all()
    assert (req["valid_until"].isna() | (req["ts"] < req["valid_until"])).all()


def test_requests_stay_inside_the_generated_span(ds):
    _, _, t = ds
    local = t["requests"]["ts"].dt.tz_convert("Europe/Prague")
    assert local.min() >= pd.Timestamp("2026-03-01", tz="Europe/Prague")
    assert local.max() < pd.Timestamp("2026-08-21", tz="Europe/Prague")
    month = local.dt.strftime("%Y-%m")
    assert (month == t["requests"]["month"].astype(str)).all()


def test_passes_the_metrics_validator(ds):
    metrics = pytest.importorskip("metrics")
    path, summary, _ = ds
    assert metrics.validate(path) == []
    data = metrics.open_dataset(path, cache_dir=False)
    report = data.report(
        metrics.Period(summary.start, summary.end), metrics.Granularity.MONTH
    ).to_json()
    assert report["limit_hits"]["users"] == summary.users_hit
    assert report["active_users"]["total"] > 0


def test_small_preset_passes_the_metrics_validator(tmp_path):
    metrics = pytest.importorskip("metrics")
    generate(tmp_path / "d", GeneratorConfig.preset("small", end=date(2026, 1, 31)))
    assert metrics.validate(tmp_path / "d") == []


def _frames(path):
    out = {n: pq.read_table(path / n).to_pandas() for n in ("users.parquet", "licenses.parquet")}
    out["topups"] = pq.read_table(path / "topup_limits.parquet").to_pandas()
    out["requests"] = read_requests(path)
    out["org"] = json.loads((path / "organization.json").read_text(encoding="utf-8"))
    return out


def test_same_seed_gives_equal_tables_and_another_seed_does_not(tmp_path):
    a = _frames(generate(tmp_path / "a", TINY).out_dir)
    b = _frames(generate(tmp_path / "b", TINY).out_dir)
    for name in ("users.parquet", "licenses.parquet", "topups", "requests"):
        pd.testing.assert_frame_equal(a[name], b[name])
    assert a["org"] == b["org"]
    c = _frames(
        generate(tmp_path / "c", GeneratorConfig.preset("small", **{**_tiny(), "seed": 4})).out_dir
    )
    assert not a["users.parquet"].equals(c["users.parquet"])
    assert len(a["requests"]) != len(c["requests"]) or not a["requests"].equals(c["requests"])


def _tiny() -> dict:
    return {"users": TINY.users, "months": TINY.months, "end": TINY.end, "seed": TINY.seed}


def test_presets_and_overrides():
    assert GeneratorConfig.preset("small").users == 50
    assert GeneratorConfig.preset("small").months == 3
    assert GeneratorConfig.preset("demo").users == 400
    assert GeneratorConfig.preset("large").users == 10_000
    cfg = GeneratorConfig.preset("large", users=12, months=None)
    assert (cfg.users, cfg.months) == (12, 12)
    with pytest.raises(fixtures.ConfigError):
        GeneratorConfig.preset("huge")
    with pytest.raises(fixtures.ConfigError):
        GeneratorConfig.preset("small", timezone="Mars/Olympus")
    with pytest.raises(fixtures.ConfigError):
        GeneratorConfig.preset("small", locale="xx_XX")


def test_default_end_is_today_in_the_org_timezone():
    cfg = GeneratorConfig.preset("demo", timezone="Pacific/Kiritimati")
    assert cfg.end is None
    assert cfg.end_date() == datetime.now(ZoneInfo("Pacific/Kiritimati")).date()


def test_enterprise_quota_is_configurable(tmp_path):
    cfg = GeneratorConfig.preset("small", **{**_tiny(), "users": 60, "enterprise_quota": 200.0})
    generate(tmp_path / "d", cfg)
    lic = pq.read_table(tmp_path / "d" / "licenses.parquet").to_pandas()
    assert set(lic.loc[lic["plan"] == "AI Enterprise", "monthly_quota"]) == {200.0}


def test_locale_changes_names_and_domain(tmp_path):
    cfg = GeneratorConfig.preset("small", **{**_tiny(), "locale": "cs_CZ"})
    generate(tmp_path / "d", cfg)
    users = pq.read_table(tmp_path / "d" / "users.parquet").to_pandas()
    assert users["email"].str.endswith(".cz").all()
    assert users["email"].str.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+").all()


def test_progress_callback_counts_up_to_total(tmp_path):
    calls = []
    generate(tmp_path / "d", TINY, progress=lambda d, t, label: calls.append((d, t, label)))
    done = [c[0] for c in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1]
    assert any("requests 2026-02" in c[2] for c in calls)


def test_refuses_to_overwrite_unless_forced(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        generate(out, TINY)
    assert (out / "keep.txt").read_text() == "mine"
    generate(out, TINY, force=True)
    assert not (out / "keep.txt").exists() and (out / "users.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_empty_existing_directory_is_fine(tmp_path):
    (tmp_path / "d").mkdir()
    generate(tmp_path / "d", TINY)
    assert (tmp_path / "d" / "requests").is_dir()


def test_a_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    from fixtures import requests as req_mod

    def boom(self, index, md, seed):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(req_mod.RequestGenerator, "month", boom)
    with pytest.raises(RuntimeError):
        generate(tmp_path / "d", TINY)
    assert list(tmp_path.iterdir()) == []


def test_request_ids_are_compact_and_ordered():
    ids = request_ids("r202601", 12).to_pylist()
    assert ids[0] == "r20260100000000" and ids[11] == "r20260100000011"
    assert ids == sorted(ids) and len(set(ids)) == 12
    assert request_ids("r202601", 0).to_pylist() == []


def test_main_config_is_what_the_tests_assume():
    assert MAIN_CONFIG.timezone == "Europe/Prague" and MAIN_CONFIG.end == date(2026, 8, 20)


@pytest.mark.parametrize(
    ("tz", "country", "summer"),
    [
        ("Europe/Prague", "CZ", (7, 8)),
        ("America/New_York", "US", (7, 8)),
        ("Australia/Sydney", "AU", (1, 2)),
        ("UTC", "US", (7, 8)),
    ],
)
def test_timezone_picks_holidays_and_summer(tz, country, summer):
    from fixtures.calendar import country_of, summer_months

    assert country_of(tz) == country and summer_months(tz) == summer


def test_terminal_progress_prints_lines_when_not_a_terminal():
    import io

    stream = io.StringIO()
    bar = fixtures.TerminalProgress(stream)
    bar(1, 4, "people")
    bar(4, 4, "done")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[#######.") and "4/4 done" in lines[1]
