"""The Data page and dataset handling through AppTest: open, generate, validate, first start."""

from __future__ import annotations

from pathlib import Path

from tests import datasets as d
from tests.app_support import assert_clean, new_app, open_page


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
    return at.sidebar.markdown[0].value.strip("*")


def test_shows_the_open_dataset_and_its_validation(app_env, small_ds):
    at = open_data()
    assert at.title[0].value == "Data"
    values = {m.label: m.value for m in at.metric}
    assert values["Organization"] == small_ds.name
    assert values["Users"] == f"{len(small_ds.users):,}"
    assert any("follows every rule" in s.value for s in at.success)


def test_a_bad_dataset_shows_its_errors_and_the_last_good_stays(app_env, small_ds, tmp_path):
    bad = broken_dataset(tmp_path / "bad")
    at = open_data()
    at.text_input(key="open_path").input(str(bad))
    at.button(key="FormSubmitter:open_form-Open dataset").click().run()
    assert_clean(at)
    errors = [e.value for e in at.error]
    assert any("was not opened" in e for e in errors)
    assert any("must exist in users.parquet" in e for e in errors), errors
    assert any("credits" in e for e in errors), errors
    assert sidebar_org(at) == small_ds.name

    at.switch_page("app_pages/adoption.py").run()
    assert_clean(at)
    assert len(at.get("vega_lite_chart")) >= 2


def test_open_another_dataset(app_env, tmp_path):
    good = d.worked_example(tmp_path / "worked")
    at = open_data()
    at.text_input(key="open_path").input(str(good))
    at.button(key="FormSubmitter:open_form-Open dataset").click().run()
    assert_clean(at)
    assert sidebar_org(at) == "Test org"
    assert any("Opened Test org" in s.value for s in at.success)


def test_generate_from_the_form(app_env, tmp_path):
    out = tmp_path / "generated"
    at = open_data()
    at.selectbox(key="gen_size").set_value("small")
    at.number_input(key="gen_months").set_value(2)
    at.number_input(key="gen_seed").set_value(11)
    at.selectbox(key="gen_tz").set_value("UTC")
    at.text_input(key="gen_out").input(str(out))
    at.button(key="FormSubmitter:generate_form-Generate and open").click().run()
    assert_clean(at)
    assert (out / "users.parquet").is_file()
    assert any("Generated" in s.value for s in at.success), [s.value for s in at.success]
    assert "timezone UTC" in at.sidebar.caption[0].value


def test_first_start_generates_the_demo(monkeypatch, tmp_path, app_env):
    monkeypatch.delenv("AI_CONSOLE_DATASET")
    monkeypatch.setenv("AI_CONSOLE_DATA", str(tmp_path / "demo"))
    at = new_app()
    at.run()
    assert_clean(at)
    assert (tmp_path / "demo" / "users.parquet").is_file()
    assert len(at.status) == 1
    assert len(at.get("vega_lite_chart")) >= 2


def test_a_bad_configured_dataset_points_to_the_data_page(monkeypatch, tmp_path, app_env):
    monkeypatch.setenv("AI_CONSOLE_DATASET", str(broken_dataset(tmp_path / "bad")))
    at = new_app()
    at.run()
    assert_clean(at)
    assert any("No dataset is open" in w.value for w in at.warning)
    at.switch_page("app_pages/data.py").run()
    assert_clean(at)
    assert any("must exist in users.parquet" in e.value for e in at.error)


def test_a_dataset_that_breaks_while_open_keeps_the_last_good(
    monkeypatch, tmp_path, app_env, small_ds
):
    import shutil

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
    errors = [e.value for e in at.error]
    assert any("can no longer be opened" in e for e in errors), errors
    assert any("users.parquet" in e for e in errors), errors
