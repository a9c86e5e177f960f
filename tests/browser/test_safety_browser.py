"""The app on a hostile network and with hostile data, against the real server."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from urllib.parse import urlsplit

import pytest

from tests import datasets as d
from tests.browser.conftest import assert_no_exception, guard
from tests.browser.server import CHART, choose_team, launch, settled_picture, wait_for_app

pytestmark = pytest.mark.browser

REBOUND = "rebound.test"


def handshake(port: int, host: str) -> str:
    """The status line a WebSocket upgrade to the app's stream gets under a given Host."""
    request = (
        "GET /_stcore/stream HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: streamlit\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request.encode())
        return s.recv(4096).split(b"\r\n")[0].decode()


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:{port}", 101),
        ("localhost:{port}", 101),
        ("[::1]:{port}", 101),
        ("evil.example:{port}", 403),
        ("127.0.0.1.evil.example:{port}", 403),
    ],
)
def test_a_forged_host_is_refused_at_the_websocket(server, host, status):
    port = urlsplit(server).port
    line = handshake(port, host.format(port=port))
    assert line.startswith(f"HTTP/1.1 {status}"), line


def test_a_page_of_another_site_rebound_to_this_machine_gets_no_data(
    server, browser_ds, playwright
):
    """DNS rebinding: the attacker's name resolves to 127.0.0.1, the browser sends it as Host."""
    port = urlsplit(server).port
    browser = launch(playwright, (f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1",))
    try:
        page = browser.new_page()
        outside = guard(page, allowed_hosts=(REBOUND,))
        page.goto(f"http://{REBOUND}:{port}/")
        page.wait_for_timeout(5000)
        text = page.locator("body").inner_text()
        assert browser_ds.name not in text
        assert page.locator(CHART).count() == 0
        assert outside == []
    finally:
        browser.close()


@contextlib.contextmanager
def forwarded(port: int):
    """Another local port relaying to the app, as an SSH tunnel or a stray proxy would: the
    browser then sends a Host the WebSocket accepts (ports are not its business) and the app
    itself has to refuse."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def pipe(a, b):
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def serve():
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                upstream = socket.create_connection(("127.0.0.1", port))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_the_app_refuses_a_host_on_another_port_before_opening_data(page, server, browser_ds):
    port = urlsplit(server).port
    with forwarded(port) as other:
        page.goto(f"http://127.0.0.1:{other}/")
        page.get_by_text("only answers under the names it serves").wait_for()
        wait_for_app(page)
        assert browser_ds.name not in page.locator("body").inner_text()
        assert page.locator(CHART).count() == 0
        assert page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').count() == 0


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    users = [
        d.user("u1", team="**Ops** ![t](http://evil.example/t.png)", name="=HYPERLINK(1)"),
        d.user("u2", team="Web", name="Ann <img src=http://evil.example/i.png>"),
    ]
    licenses = [d.license_("l1", "u1"), d.license_("l2", "u2")]
    requests = [
        d.request("r1", "2026-11-02 09:00", "u1", "l1", 4),
        d.request("r2", "2026-11-03 09:00", "u2", "l2", 12),
    ]
    out = d.write_dataset(root / "org", users, licenses, requests)
    name = "![logo](http://evil.example/logo.png) :red[Acme] <b>bold</b> $x$"
    (out / "organization.json").write_text(json.dumps({"name": name, "timezone": "UTC"}))
    return out, name


def read(locator) -> str:
    """Text as a person reads it (the app's invisible word joiners left out)."""
    return locator.inner_text().replace("\u2060", "")


def test_markdown_and_html_in_names_show_as_text(page, server, hostile):
    root, name = hostile
    team = "**Ops** ![t](http://evil.example/t.png)"
    page.goto(f"{server}/?dataset={root}&period=Last+30+days")
    settled_picture(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert name in read(sidebar)
    assert page.locator('[data-testid="stMarkdownContainer"] img').count() == 0
    assert page.locator('[data-testid="stMarkdownContainer"] a[href*="evil"]').count() == 0
    choose_team(page, team)
    wait_for_app(page)
    found = '[data-testid="stMain"] [data-testid="stCaptionContainer"]'
    caption = page.locator(found).first
    # Queried again on every poll: a rerun may replace the caption's element after this line.
    page.wait_for_function(
        "([found, team]) => document.querySelector(found)?.innerText"
        ".replaceAll('\u2060', '').includes(team)",
        arg=[found, team],
    )
    assert name in read(caption)
    page.get_by_role("link", name="Data").click()
    page.locator("h1", has_text="Data").wait_for()
    wait_for_app(page)
    assert name in read(page.locator('[data-testid="stMetric"]').first)
    assert page.locator("img[src*='evil.example']").count() == 0
    assert page.locator('a[href*="evil"]').count() == 0
    assert_no_exception(page)
