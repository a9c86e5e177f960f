"""Organizations with the traits a test asks for (contract section 12), measured on the written
dataset by the metrics engine and by plain pyarrow reads, never by the generator's own word."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

import metrics
from fixtures import GeneratorConfig, generate
from fixtures.cli import main
from fixtures.scenario import config_from, load_scenario
from tests.generated_orgs import ledger, tables

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "scenario-example.toml"
END = date(2026, 6, 30)
TOL = 0.05
DAYS_3 = np.timedelta64(3, "D")
GROUPS = ("junie", "claude_agent", "ai_assistant_chat", "other")
EXCLUDED = pa.array(["code_completion", "next_edit_suggestion"])


def engine_traits(path: Path, end: date = END) -> dict:
    """What a user of the dataset sees: the engine's all-time report, teams and a tool count."""
    ds = metrics.open_dataset(path, cache_dir=False)
    r = ds.report(metrics.Period(date(end.year - 11, 1, 1), end), "year")
    t = pads.dataset(path / "requests", format="parquet", partitioning="hive").to_table(
        columns=["tool", "credits"]
    )
    counted = t.filter(
        pc.and_(pc.greater(t["credits"], 0), pc.invert(pc.is_in(t["tool"], value_set=EXCLUDED)))
    )
    tools = counted["tool"].to_numpy(zero_copy_only=False)
    per_group = {g: int((tools == g).sum()) for g in GROUPS[:3]}
    per_group["other"] = len(tools) - sum(per_group.values())
    return {
        "users": ds.n_users,
        "active": r.active_users.total,
        "hit": r.limit_hits.users,
        "teams": len(ds.teams),
        "counted": len(tools),
        "tools": per_group,
    }


def mix_of(spec: str) -> dict[str, float]:
    pairs = dict(p.split("=") for p in spec.split(","))
    return {g: float(pairs.get(g, 0)) for g in GROUPS}


def check(m: dict, adoption=None, hit_share=None, tool_mix=None, teams=None) -> None:
    if adoption is not None:
        assert abs(m["active"] / m["users"] - adoption) <= TOL, m
    if hit_share is not None:
        assert m["active"] > 0
        assert abs(m["hit"] / m["active"] - hit_share) <= TOL, m
    if tool_mix is not None:
        for g, share in mix_of(tool_mix).items():
            assert abs(m["tools"][g] / m["counted"] - share) <= TOL, (g, m)
    if teams is not None:
        assert m["teams"] == teams, m


MIX = "junie=0.4,claude_agent=0.3,ai_assistant_chat=0.2,other=0.1"
CASES = [
    (50, 3, 1, {"adoption": 0.6, "hit_share": 0.5, "tool_mix": MIX, "teams": 4}),
    (50, 6, 2, {"adoption": 0.6, "hit_share": 0.5, "tool_mix": MIX, "teams": 4}),
    (50, 2, 3, {"adoption": 1.0, "hit_share": 0.0, "teams": 0}),
    (50, 4, 4, {"adoption": 0.1, "hit_share": 1.0, "tool_mix": "ai_assistant_chat=1"}),
    (60, 12, 5, {"adoption": 0.95, "hit_share": 0.05, "teams": 60}),
    (
        200,
        5,
        6,
        {"adoption": 0.3, "hit_share": 0.9, "tool_mix": "junie=0.1,other=0.6,claude_agent=0.3"},
    ),
    (400, 12, 7, {"adoption": 0.85, "hit_share": 0.25, "tool_mix": "junie=1", "teams": 20}),
    (400, 6, 8, {"hit_share": 0.6}),
    (300, 6, 9, {"adoption": 0.5}),
    (300, 6, 10, {"tool_mix": "junie=0.25,claude_agent=0.25,ai_assistant_chat=0.25,other=0.25"}),
]


@pytest.mark.parametrize(("users", "months", "seed", "traits"), CASES)
def test_asked_traits_hold_as_the_engine_measures_them(tmp_path, users, months, seed, traits):
    cfg = GeneratorConfig.preset("small", users=users, months=months, end=END, seed=seed, **traits)
    generate(tmp_path / "d", cfg)
    check(engine_traits(tmp_path / "d"), **traits)


@pytest.mark.slow
def test_traits_hold_for_ten_thousand_users(tmp_path):
    traits = {"adoption": 0.75, "hit_share": 0.4, "tool_mix": MIX, "teams": 30}
    cfg = GeneratorConfig.preset("large", months=3, end=END, seed=21, **traits)
    generate(tmp_path / "d", cfg)
    m = engine_traits(tmp_path / "d")
    assert m["users"] == 10_000
    check(m, **traits)


def test_traits_left_out_keep_realistic_defaults(tmp_path):
    cfg = GeneratorConfig.preset("demo", users=300, months=6, end=END, seed=4, hit_share=0.5)
    generate(tmp_path / "d", cfg)
    m = engine_traits(tmp_path / "d")
    check(m, hit_share=0.5)
    assert 0.6 < m["active"] / m["users"] < 0.97
    assert 10 <= m["teams"] <= 12
    shares = {g: m["tools"][g] / m["counted"] for g in GROUPS}
    assert shares["junie"] > shares["claude_agent"] > 0 and 0.01 < shares["other"] < 0.2


def test_generator_json_holds_the_settings_and_what_the_engine_measures(tmp_path):
    traits = {"adoption": 0.7, "hit_share": 0.3, "tool_mix": MIX, "teams": 6}
    cfg = GeneratorConfig.preset("small", users=120, months=4, end=END, seed=12, **traits)
    generate(tmp_path / "d", cfg)
    info = json.loads((tmp_path / "d" / "generator.json").read_text(encoding="utf-8"))
    s = info["settings"]
    assert (s["users"], s["months"], s["end"], s["seed"]) == (120, 4, "2026-06-30", 12)
    assert s["adoption"] == 0.7 and s["hit_share"] == 0.3 and s["teams"] == 6
    assert s["tool_mix"] == mix_of(MIX)
    assert config_from(s) == cfg
    m, got = engine_traits(tmp_path / "d"), info["measured"]
    assert (got["users"], got["active_users"], got["hit_users"]) == (
        m["users"],
        m["active"],
        m["hit"],
    )
    assert got["adoption"] == m["active"] / m["users"]
    assert got["hit_share"] == m["hit"] / m["active"]
    assert got["teams"] == m["teams"] and got["counted_requests"] == m["counted"]
    assert got["tool_requests"] == m["tools"]
    assert metrics.validate(tmp_path / "d") == []


def test_generator_json_of_natural_data_matches_the_engine_too(tmp_path):
    generate(tmp_path / "d", GeneratorConfig.preset("small", users=150, months=5, end=END))
    got = json.loads((tmp_path / "d" / "generator.json").read_text(encoding="utf-8"))["measured"]
    m = engine_traits(tmp_path / "d")
    assert (got["active_users"], got["hit_users"], got["tool_requests"]) == (
        m["active"],
        m["hit"],
        m["tools"],
    )


def test_license_and_limit_settings_show_in_the_written_tables(tmp_path):
    cfg = GeneratorConfig.preset(
        "small",
        users=400,
        months=6,
        end=END,
        seed=5,
        hit_share=0.5,
        multi_license_share=0.25,
        cycle_share=0.6,
        topup_limit=12.5,
        raise_after_hit=0.8,
    )
    generate(tmp_path / "d", cfg)
    t = tables(tmp_path / "d")
    per_user = t["licenses"].groupby("user_id").size()
    assert abs((per_user == 2).mean() - 0.25) <= 0.01
    assert abs(t["licenses"]["cycle_anchor"].notna().mean() - 0.6) <= 0.01
    org = t["topups"][t["topups"]["user_id"].isna()]
    assert list(org["monthly_limit"]) == [12.5]
    assert org["effective_from"].max() <= t["requests"]["ts"].min()

    led = ledger(tmp_path / "d", cfg.timezone)
    hits = led.loc[led["hit"], ["user_id", "ts"]]
    own = t["topups"][t["topups"]["user_id"].notna()].merge(hits, on="user_id")
    soon = (own["effective_from"] > own["ts"]) & (own["effective_from"] <= own["ts"] + DAYS_3)
    raised = own[soon & (own["monthly_limit"] > 12.5)]
    assert abs(raised["user_id"].nunique() / hits["user_id"].nunique() - 0.8) <= TOL
    # A raised user spends past the old allowance afterwards, as the product page describes.
    after = led.merge(raised[["user_id", "effective_from"]], on="user_id")
    assert (after["ts"] > after["effective_from"]).any()


def test_same_scenario_gives_identical_tables(tmp_path):
    cfg = GeneratorConfig.preset(
        "small", users=80, months=3, end=END, seed=8, adoption=0.7, hit_share=0.5, tool_mix=MIX
    )
    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, cfg)
    generate(b, cfg)
    for name in ("users.parquet", "licenses.parquet", "topup_limits.parquet"):
        assert pq.read_table(a / name).equals(pq.read_table(b / name))
    assert _requests(a).equals(_requests(b))
    assert (a / "generator.json").read_text() == (b / "generator.json").read_text()


def _requests(path: Path) -> pa.Table:
    return pads.dataset(path / "requests", format="parquet", partitioning="hive").to_table()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fixtures", "generate", "--quiet", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


CONTRADICTIONS = [
    (["--tool-mix", "junie=0.5,claude_agent=0.2"], "add up to 0.7"),
    (["--adoption", "0", "--hit-share", "0.3"], "adoption is 0"),
    (["--teams", "21"], "20 users"),
    (["--adoption", "1.5"], "between 0 and 1"),
    (["--tool-mix", "junie=0.5,copilot=0.5"], "copilot"),
    (["--adoption", "0", "--tool-mix", "junie=1"], "adoption is 0"),
    (["--hit-share", "-0.1"], "between 0 and 1"),
    (["--teams", "-2"], "at least 0"),
    (["--cycle-share", "2"], "cycle_share"),
    (["--multi-license-share", "1.01"], "multi_license_share"),
    (["--raise-after-hit", "nan"], "raise_after_hit"),
    (["--topup-limit", "-1"], "topup_limit"),
    (["--tool-mix", "junie"], "TOOL=SHARE"),
]


@pytest.mark.parametrize(("options", "reason"), CONTRADICTIONS[:4])
def test_contradictory_options_exit_2_with_the_reason(tmp_path, options, reason):
    out = tmp_path / "d"
    done = _cli("--out", str(out), "--preset", "small", "--users", "20", *options)
    assert done.returncode == 2, done.stderr
    assert reason in done.stderr and done.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize(("options", "reason"), CONTRADICTIONS[4:])
def test_more_impossible_options_exit_2(tmp_path, capsys, options, reason):
    out = tmp_path / "d"
    assert (
        main(["generate", "--out", str(out), "--preset", "small", "--users", "20", *options]) == 2
    )
    captured = capsys.readouterr()
    assert reason in captured.err and captured.out == ""
    assert not out.exists()


def test_example_scenario_loads_and_is_consistent():
    with EXAMPLE.open("rb") as f:
        raw = tomllib.load(f)
    settings = load_scenario(EXAMPLE)
    assert settings.keys() == raw.keys()
    cfg = config_from(settings)
    assert (cfg.users, cfg.months, cfg.end) == (raw["users"], raw["months"], raw["end"])
    assert (cfg.locale, cfg.timezone, cfg.teams) == (raw["locale"], raw["timezone"], raw["teams"])
    assert cfg.tool_mix == tuple(raw["tool_mix"].get(g, 0.0) for g in GROUPS)


def test_scenario_file_round_trip_with_a_command_line_override(tmp_path):
    scenario = tmp_path / "org.toml"
    scenario.write_text(
        "\n".join(
            [
                'preset = "small"',
                "users = 90",
                "months = 3",
                "end = 2026-05-31",
                "seed = 3",
                'locale = "ko_KR"',
                'timezone = "Asia/Seoul"',
                "adoption = 0.8",
                "hit_share = 0.4",
                "tool_mix = { junie = 0.5, claude_agent = 0.2, ai_assistant_chat = 0.3 }",
                "teams = 5",
                "topup_limit = 5",
            ]
        ),
        encoding="utf-8",
    )
    out = tmp_path / "d"
    done = _cli("--scenario", str(scenario), "--out", str(out), "--hit-share", "0.7")
    assert done.returncode == 0, done.stderr
    s = json.loads((out / "generator.json").read_text(encoding="utf-8"))["settings"]
    assert (s["users"], s["months"], s["end"], s["seed"]) == (90, 3, "2026-05-31", 3)
    assert (s["locale"], s["timezone"], s["teams"], s["topup_limit"]) == (
        "ko_KR",
        "Asia/Seoul",
        5,
        5.0,
    )
    assert s["adoption"] == 0.8 and s["hit_share"] == 0.7
    assert s["tool_mix"] == {
        "junie": 0.5,
        "claude_agent": 0.2,
        "ai_assistant_chat": 0.3,
        "other": 0,
    }
    org = json.loads((out / "organization.json").read_text(encoding="utf-8"))
    assert org["timezone"] == "Asia/Seoul"
    check(
        engine_traits(out, date(2026, 5, 31)),
        adoption=0.8,
        hit_share=0.7,
        tool_mix="junie=0.5,claude_agent=0.2,ai_assistant_chat=0.3",
        teams=5,
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("hit-share = 0.3", "did you mean 'hit_share'"),
        ('users = "many"', "users must be a whole number"),
        ("end = 2026-13-01", "not valid TOML"),
        ("tool_mix = { junie = 0.6 }", "add up to 0.6"),
    ],
)
def test_a_broken_scenario_is_a_usage_error(tmp_path, capsys, text, reason):
    scenario = tmp_path / "bad.toml"
    scenario.write_text(text + "\n", encoding="utf-8")
    assert main(["generate", "--scenario", str(scenario), "--out", str(tmp_path / "d")]) == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_a_share_too_fine_for_the_size_is_written_with_a_warning(tmp_path, capsys):
    out = tmp_path / "d"
    args = ["generate", "--out", str(out), "--preset", "small", "--users", "10", "--months", "1"]
    assert main([*args, "--end", "2026-03-31", "--adoption", "0.3", "--hit-share", "0.5"]) == 0
    err = capsys.readouterr().err
    m = engine_traits(out, date(2026, 3, 31))
    assert m["active"] == 3
    assert f"hit_share 0.5 came out as {m['hit'] / 3:.3f} ({m['hit']} of 3 active users)" in err
    assert "adoption" not in err
