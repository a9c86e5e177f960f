"""The guards of `ui.safety` and the app's use of them: Host, data roots, Markdown, CSV cells."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.app_support import assert_clean, new_app, plain
from ui import safety

PORTS = (8501,)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:8501", "localhost:8501", "[::1]:8501", "LOCALHOST:8501", "localhost", None],
)
def test_loopback_names_on_the_apps_port_are_allowed(host):
    assert safety.host_allowed(host, [], PORTS)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:8501",
        "evil.example",
        "localhost:8502",
        "127.0.0.2:8501",
        "localhost.evil.example:8501",
        "user@localhost:8501",
        "localhost:8501/x",
        "localhost:notaport",
        "",
    ],
)
def test_other_names_or_ports_are_refused(host):
    assert not safety.host_allowed(host, [], PORTS)


def test_configured_names_replace_the_loopback_ones():
    allowed = ["console.example.com", "*.corp.example"]
    assert safety.host_allowed("console.example.com:8501", allowed, PORTS)
    assert safety.host_allowed("a.corp.example", allowed, PORTS)
    assert not safety.host_allowed("corp.example.evil:8501", allowed, PORTS)
    assert not safety.host_allowed("localhost:8501", allowed, PORTS)
    assert safety.host_allowed("anything:8501", ["*"], PORTS)
    assert safety.host_allowed("console.example.com:443", allowed, (8501, 443))


def test_a_foreign_host_gets_a_refusal_before_any_data_is_opened(app_env, monkeypatch):
    """AppTest cannot send headers, so `st.context.headers` is what a rebinding page sends."""
    import streamlit as st

    from ui import data

    monkeypatch.setattr(
        type(st.context), "headers", property(lambda self: {"Host": "evil.example:8501"})
    )

    def never(*args, **kwargs):
        raise AssertionError("a dataset was opened for a foreign host")

    monkeypatch.setattr(data, "open_dataset", never)
    at = new_app()
    at.run()
    assert_clean(at)
    assert "only answers under the names it serves" in at.text[0].value
    assert not at.get("vega_lite_chart") and not at.sidebar.selectbox


def test_paths_under_the_roots_only(tmp_path, monkeypatch):
    inside = tmp_path / "root" / "org"
    inside.mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (inside / "escape").symlink_to(outside)
    monkeypatch.setenv(safety.ENV_ROOTS, str(tmp_path / "root"))
    assert safety.allowed_path(inside) == inside.resolve()
    assert safety.allowed_path(tmp_path / "root" / "new" / "dir") is not None
    assert safety.allowed_path(outside) is None
    assert safety.allowed_path(inside / "escape") is None
    assert safety.allowed_path(inside / ".." / ".." / "elsewhere") is None
    assert safety.allowed_path("bad\x00path") is None
    assert safety.allowed_path(outside, extra=[outside.resolve()]) == outside.resolve()


def test_default_roots_are_the_data_folder_and_home(monkeypatch):
    from pathlib import Path

    monkeypatch.delenv(safety.ENV_ROOTS, raising=False)
    assert safety.data_roots() == [
        (safety.APP_ROOT / "data").resolve(),
        Path.home().resolve(),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "![x](http://evil.example/x.png)",
        "**bold** _it_ `code` [link](https://evil.example)",
        ":red[alarm] :material/warning: :smile: $x^2$",
        "<img src=x onerror=alert(1)> &amp; # heading",
        "1. list\n- item\n> quote",
    ],
)
def test_markdown_is_escaped_character_by_character(text):
    escaped = safety.md(text)
    assert "\n" not in escaped
    for ch in "![]()*_`:$<>&#":
        assert f"\\{ch}" in escaped or ch not in text
    assert safety.md("Acme Corp") == "Acme Corp"
    assert plain(escaped) == " ".join(text.split())


@pytest.mark.parametrize(
    ("text", "broken"),
    [
        ("see http://evil.example", "http\\:\u2060//"),
        ("www.evil.example", "w\u2060ww\\."),
        ("ceo@evil.example", "ceo\u2060@"),
        (":material/warning:", "\\:\u2060material/"),
    ],
)
def test_links_and_icons_streamlit_would_draw_anyway_are_broken_invisibly(text, broken):
    """Streamlit links addresses and draws icons even from escaped text (seen in Chromium)."""
    assert broken in safety.md(text)


def test_csv_cells_that_would_run_as_formulas_are_neutralised():
    frame = pd.DataFrame(
        {
            "name": ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "Ann"],
            "credits": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            "hits": [1, 2, 3, 4, 5, 6, 7],
        }
    )
    back = pd.read_csv(io.BytesIO(safety.csv_bytes(frame)), keep_default_na=False)
    assert back["name"].tolist() == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "Ann",
    ]
    assert back["credits"].tolist() == [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert back["hits"].dtype.kind == "i"
