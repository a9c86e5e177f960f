"""The Data page and dataset handling through AppTest: open, generate, validate, first start."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests import datasets as d
from tests.app_support import assert_clean, new_app, open_page, plain, texts
from ui import safety

OPEN = "FormSubmitter:open_form-Open dataset"
GENERATE = "FormSubmitter:generate_form-Generate and open"


def broken_dataset(root: Path) -> Path:
    return d.write_dataset(
        root,
        users=[d.user("u1")],
        licenses=[d.license_("l1", "u1")],
        requests=[
            d.request("r1", "2026-01-05 09:00", "u1", "l1", 6),
            d.request("r2", "2026-01-06 09:00", "ghost", "l1", -2),
        ],
    )


def open_data(**query):
    return open_page("app_pages/data.py", **query)


def sidebar_org(at) -> str:
    return plain(at.sidebar.markdown[0].value).strip("*")


def open_path(at, path) -> None:
    at.text_input(key="open_path").input(str(path))
    at.button(key=OPEN).click().run()
    assert_clean(at)


def generate(at, out, months=2, seed=11, replace=False, users=50, **traits) -> None:
    """Fills the form as a person would; `traits` are the trait fields by key suffix
    (`adoption=0.5`, `mix_junie=1.0`, ...)."""
    at.number_input(key="gen_users").set_value(users)
    at.number_input(key="gen_months").set_value(months)
    at.date_input(key="gen_end").set_value(date(2026, 11, 24))
    at.number_input(key="gen_seed").set_value(seed)
    at.selectbox(key="gen_tz").set_value("UTC")
    for name, value in traits.items():
        at.number_input(key=f"gen_{name}").set_value(value)
    at.text_input(key="gen_out").input(str(out))
    at.checkbox(key="gen_replace").set_value(replace)
    at.button(key=GENERATE).click().run()
    assert_clean(at)


def everything_said(at) -> str:
    return " ".join(texts([*at.error, *at.success, *at.warning, *at.info, *at.caption]))


def test_shows_the_open_dataset_and_its_validation(app_env, small_ds):
    at = open_data()
    assert at.title[0].value == "Data"
    values = {m.label: m.value for m in at.metric}
    assert values["Organization"] == small_ds.name
    assert values["Users"] == f"{len(small_ds.users):,}"
    assert any("follows every rule" in s for s in texts(at.success))


def test_a_bad_dataset_shows_its_errors_and_the_last_good_stays(app_env, small_ds, tmp_path):
    bad = broken_dataset(tmp_path / "bad")
    at = open_data()
    open_path(at, bad)
    errors = texts(at.error)
    assert any("is not a dataset the app can read: it breaks 2 rules" in e for e in errors)
    assert any("must exist in users.parquet" in e for e in errors), errors
    assert any("credits" in e for e in errors), errors
    assert sidebar_org(at) == small_ds.name
    assert "dataset" not in at.query_params

    at.switch_page("app_pages/adoption.py").run()
    assert_clean(at)
    assert len(at.get("vega_lite_chart")) >= 2


def test_open_another_dataset_puts_it_in_the_url(app_env, tmp_path):
    good = d.worked_example(tmp_path / "worked")
    at = open_data()
    open_path(at, good)
    assert sidebar_org(at) == "Test org"
    assert any("Opened Test org" in s for s in texts(at.success))
    assert at.query_params["dataset"] == str(good.resolve())
    assert at.text_input(key="validate_path").value == str(good.resolve())


def test_a_missing_folder_is_no_such_folder(app_env, tmp_path):
    at = open_data()
    open_path(at, tmp_path / "nowhere")
    (error,) = texts(at.error)
    assert error.startswith(f"No such folder: {tmp_path / 'nowhere'}.")
    assert "rule" not in error


@pytest.mark.parametrize("outside", ["/etc", "/root/../etc", "/proc/self"])
def test_a_folder_outside_the_roots_reads_like_a_missing_one(app_env, tmp_path, outside):
    at = open_data()
    open_path(at, tmp_path / "nowhere")
    (missing,) = texts(at.error)
    open_path(at, outside)
    (forbidden,) = texts(at.error)
    assert forbidden == missing.replace(str(tmp_path / "nowhere"), outside)

    at.text_input(key="validate_path").input(outside).run()
    assert_clean(at)
    (checked,) = texts(at.error)
    assert checked == missing.replace(str(tmp_path / "nowhere"), outside).removesuffix(
        " The dataset in use stays open."
    )


def test_generate_from_the_form(app_env, tmp_path):
    out = tmp_path / "generated"
    at = open_data()
    generate(at, out)
    assert (out / "users.parquet").is_file()
    assert (out / safety.MARKER).is_file()
    assert any("Generated" in s for s in texts(at.success)), texts(at.success)
    assert "timezone UTC" in at.sidebar.caption[0].value
    assert at.text_input(key="validate_path").value == str(out.resolve())
    assert any(f"{out.resolve()} follows every rule" in s for s in texts(at.success))


def traits_shown(at) -> pd.DataFrame:
    (table,) = [x.value for x in at.dataframe if "trait" in x.value.columns]
    return table.set_index("trait")


def test_the_form_asks_for_every_setting_and_shows_the_measured_traits(app_env, tmp_path):
    out = tmp_path / "traits"
    at = open_data()
    generate(
        at,
        out,
        users=120,
        months=3,
        seed=5,
        adoption=0.5,
        hit_share=0.4,
        teams=4,
        mix_junie=0.6,
        mix_ai_assistant_chat=0.4,
        cycles=0.3,
        topup=15.0,
    )
    written = json.loads((out / "generator.json").read_text())
    settings, measured = written["settings"], written["measured"]
    assert settings["users"] == 120 and settings["months"] == 3 and settings["seed"] == 5
    assert settings["end"] == "2026-11-24" and settings["timezone"] == "UTC"
    assert settings["adoption"] == 0.5 and settings["hit_share"] == 0.4 and settings["teams"] == 4
    assert settings["tool_mix"] == {
        "junie": 0.6, "claude_agent": 0.0, "ai_assistant_chat": 0.4, "other": 0.0
    }  # fmt: skip
    assert settings["cycle_share"] == 0.3 and settings["topup_limit"] == 15.0
    assert settings["multi_license_share"] == 0.09  # left empty: the realistic default
    shown = traits_shown(at)
    assert shown.loc["Adoption", "asked"] == "0.500"
    assert shown.loc["Adoption", "measured"] == f"{measured['adoption']:.3f}"
    assert shown.loc["Adoption", "count"] == f"{measured['active_users']} of 120 users"
    assert shown.loc["Hit share", "measured"] == f"{measured['hit_share']:.3f}"
    assert shown.loc["Teams", "measured"] == "4"
    assert shown.loc["Tool mix: Junie", "asked"] == "0.600"
    assert shown.loc["Tool mix: Claude Agent", "measured"] == "0.000"
    assert shown.loc["Two licenses", "asked"] == "0.090"
    assert abs(measured["adoption"] - 0.5) <= 0.05
    assert not at.warning


def test_a_share_too_fine_for_a_small_organization_is_warned_about(app_env, tmp_path):
    at = open_data()
    generate(at, tmp_path / "tiny", users=3, months=1, adoption=0.25)
    assert (tmp_path / "tiny" / "users.parquet").is_file()
    (warning,) = texts(at.warning)
    assert warning.startswith("Too small to show that share: adoption 0.25 came out as 0.333")
    assert traits_shown(at).loc["Adoption", "count"] == "1 of 3 users"


@pytest.mark.parametrize(
    ("traits", "reason"),
    [
        ({"mix_junie": 0.5, "mix_other": 0.3}, "tool_mix shares add up to 0.8, not 1"),
        ({"adoption": 0.0, "hit_share": 0.3}, "hit_share 0.3 needs users who use AI"),
        ({"teams": 80}, "teams 80 cannot all have a member among 50 users"),
    ],
)
def test_settings_that_cannot_all_hold_are_a_message(app_env, tmp_path, traits, reason):
    out = tmp_path / "never"
    at = open_data()
    generate(at, out, **traits)
    (error,) = texts(at.error)
    assert error.startswith("These settings cannot all hold at once:")
    assert reason in error and error.endswith("Nothing was written.")
    assert not out.exists()


def test_replace_never_touches_a_folder_the_app_did_not_create(app_env, tmp_path):
    theirs = tmp_path / "theirs"
    (theirs / "sub").mkdir(parents=True)
    (theirs / "notes.txt").write_text("keep me")
    (theirs / "sub" / "more.txt").write_text("and me")
    at = open_data()
    generate(at, theirs, replace=True)
    (error,) = texts(at.error)
    assert "already holds files that this app did not create" in error
    assert (theirs / "notes.txt").read_text() == "keep me"
    assert (theirs / "sub" / "more.txt").read_text() == "and me"
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.txt", "sub"]


def test_replace_only_a_dataset_generated_here_and_only_when_asked(app_env, tmp_path):
    out = tmp_path / "mine"
    at = open_data()
    generate(at, out, seed=11)
    first = (out / "users.parquet").read_bytes()

    generate(at, out, seed=12)
    assert any("holds a dataset this app generated earlier" in e for e in texts(at.error))
    assert (out / "users.parquet").read_bytes() == first

    generate(at, out, seed=12, replace=True)
    assert (out / "users.parquet").read_bytes() != first
    assert (out / safety.MARKER).is_file()


def test_generating_outside_the_roots_is_refused(app_env):
    at = open_data()
    generate(at, "/etc/ai-console-test")
    (error,) = texts(at.error)
    assert error.startswith("Cannot write to /etc/ai-console-test: the app writes datasets only")
    assert not Path("/etc/ai-console-test").exists()


def test_the_page_speaks_to_a_person(app_env, tmp_path):
    out = tmp_path / "mine"
    at = open_data()
    generate(at, out)
    generate(at, out)
    said = everything_said(at)
    assert "--force" not in said and "force=True" not in said
    labels = [w.label for w in at.get("checkbox")]
    assert "Replace a dataset generated here before" in labels


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("nested json", lambda p: (p / "organization.json").write_text('{"timezone": {"a": [1]}}')),
        ("not json", lambda p: (p / "organization.json").write_text("{oops")),
        ("corrupt parquet", lambda p: (p / "users.parquet").write_bytes(b"PAR1 nonsense PAR1")),
        ("folder for a file", lambda p: ((p / "users.parquet").unlink(), (p / "x").mkdir())),
    ],
)
def test_a_damaged_dataset_is_a_message_never_a_traceback(app_env, tmp_path, name, damage):
    root = d.worked_example(tmp_path / re.sub(r"\W", "_", name))
    damage(root)
    at = open_data()
    open_path(at, root)
    assert texts(at.error)
    at.text_input(key="validate_path").input(str(root)).run()
    assert_clean(at)
    assert any("problem" in e for e in texts(at.error))


def test_markdown_in_a_validation_example_stays_literal(app_env, tmp_path):
    root = d.write_dataset(
        tmp_path / "md",
        users=[d.user("u1")],
        licenses=[d.license_("l1", "u1")],
        requests=[d.request("![x](http://evil.example/x)", "2026-01-05 09:00", "ghost", "l1", 6)],
    )
    at = open_data()
    open_path(at, root)
    raw = [e.value for e in at.error]
    assert not any("![x](http" in e for e in raw)
    assert any("![x](http://evil.example/x)" in e for e in texts(at.error))


def test_first_start_generates_the_demo(monkeypatch, tmp_path, app_env):
    monkeypatch.delenv("AI_CONSOLE_DATASET")
    monkeypatch.setenv("AI_CONSOLE_DATA", str(tmp_path / "demo"))
    at = new_app()
    at.run()
    assert_clean(at)
    assert (tmp_path / "demo" / "users.parquet").is_file()
    assert (tmp_path / "demo" / safety.MARKER).is_file()
    assert len(at.status) == 1
    assert len(at.get("vega_lite_chart")) >= 2


def test_the_demo_is_never_generated_over_somebodys_files(monkeypatch, tmp_path, app_env):
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "thesis.tex").write_text("years of work")
    monkeypatch.delenv("AI_CONSOLE_DATASET")
    monkeypatch.setenv("AI_CONSOLE_DATA", str(demo))
    at = new_app()
    at.run()
    assert_clean(at)
    (error,) = texts(at.error)
    assert error.startswith(f"{demo} already holds other files, and the app never writes over")
    assert "force" not in error
    assert (demo / "thesis.tex").read_text() == "years of work"


def test_a_bad_configured_dataset_points_to_the_data_page(monkeypatch, tmp_path, app_env):
    monkeypatch.setenv("AI_CONSOLE_DATASET", str(broken_dataset(tmp_path / "bad")))
    at = new_app()
    at.run()
    assert_clean(at)
    assert any("No dataset is open" in w.value for w in at.warning)
    at.switch_page("app_pages/data.py").run()
    assert_clean(at)
    assert any("must exist in users.parquet" in e for e in texts(at.error))


def test_a_dataset_that_breaks_while_open_keeps_the_last_good(
    monkeypatch, tmp_path, app_env, small_ds
):
    copy = tmp_path / "copy"
    shutil.copytree(app_env, copy)
    monkeypatch.setenv("AI_CONSOLE_DATASET", str(copy))
    at = new_app()
    at.run()
    assert sidebar_org(at) == small_ds.name

    (copy / "users.parquet").write_bytes(b"not parquet")
    at.run()
    assert_clean(at)
    assert sidebar_org(at) == small_ds.name
    assert len(at.get("vega_lite_chart")) >= 2
    at.switch_page("app_pages/data.py").run()
    assert_clean(at)
    errors = texts(at.error)
    assert any("can no longer be opened" in e for e in errors), errors
    assert any("users.parquet" in e for e in errors), errors


def test_an_opened_dataset_that_breaks_keeps_its_link(app_env, tmp_path, small_ds):
    copy = tmp_path / "copy"
    shutil.copytree(app_env, copy)
    at = new_app(dataset=str(copy))
    at.run()
    (copy / "organization.json").write_text(json.dumps({"name": "x", "timezone": "Mars/Base"}))
    at.run()
    assert_clean(at)
    assert sidebar_org(at) == small_ds.name
    assert at.query_params["dataset"] == str(copy)
