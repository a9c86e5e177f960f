"""A real `streamlit run app.py` server and a headless Chromium, for tests and scripts.

Shared by the browser tests, the app benchmark and the screenshot script so that all of them
drive the app exactly as a person would: a separate server process on a free local port.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("AI_CONSOLE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A tab left behind another (the tests' fresh loads) keeps its timers and renderer running.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
CHART = '[data-testid="stVegaLiteChart"]'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], timeout: float = 60, cwd: Path = ROOT) -> Iterator[str]:
    """Yields the base URL; the server is stopped (by its own pid) on exit.

    `cwd` is where Streamlit looks for `.streamlit/config.toml`: started elsewhere, the app
    runs without the project's settings, as it would for someone who did that.
    """
    port = free_port()
    log = open(os.devnull, "w")  # noqa: SIM115 - closed below, after the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with status {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("streamlit did not become healthy")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def launch(playwright, args: tuple[str, ...] = ()):
    """The system Chromium, from a running Playwright (one per process: its sync API nests no
    second one)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *args])


@contextlib.contextmanager
def chromium(viewport=(1440, 1000), args: tuple[str, ...] = ()) -> Iterator:
    """Yields a Playwright browser context on the system Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p, args)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            yield context
        finally:
            browser.close()


def wait_for_app(page, timeout: float = 60_000) -> None:
    """Until the script run has finished, read from the app's own run-state attribute."""
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout
    )


def bar_counts(page) -> list[int]:
    """Rendered bars per chart (Vega's SVG renderer draws each bar as a path)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"]'))
            .map(c => c.querySelectorAll('g.mark-rect path').length)"""
    )


def chart_signature(page) -> str:
    """Everything the three charts draw, to tell when they have been redrawn."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"]'))
            .map(c => Array.from(c.querySelectorAll('g.mark-rect path'))
                .map(p => p.getAttribute('d')).join('|')).join('#')"""
    )


_PICTURE = """() => Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"]'))
    .map(c => {
        const svg = c.querySelector('svg.marks');
        if (!svg) return null;
        const left = svg.getBoundingClientRect().left;
        const axis = Array.from(svg.querySelectorAll('g.role-axis')).find(
            g => (g.getAttribute('aria-label') || '').startsWith('X-axis'));
        const labels = axis ? Array.from(axis.querySelectorAll('g.role-axis-label text'))
            .filter(t => t.getAttribute('opacity') !== '0')
            .map(t => [t.getBoundingClientRect().left - left, t.textContent])
            .sort((a, b) => a[0] - b[0]).map(x => x[1]) : [];
        const bars = Array.from(svg.querySelectorAll('g.mark-rect path')).map(p => {
            const r = p.getBoundingClientRect(), s = svg.getBoundingClientRect();
            const b = {x: r.left - s.left, y: r.top - s.top, width: r.width, height: r.height};
            const fill = p.getAttribute('fill');
            const op = (p.getAttribute('opacity') || '1') + '/'
                + (p.getAttribute('fill-opacity') || '1');
            return [Math.round(b.x), Math.round(b.y), Math.round(b.width), Math.round(b.height),
                    fill, op];
        }).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        const lines = t => t.querySelector('tspan')
            ? Array.from(t.querySelectorAll('tspan')).map(s => s.textContent) : [t.textContent];
        const text = sel => Array.from(svg.querySelectorAll(sel)).flatMap(lines)
            .map(x => x.trim()).filter(Boolean);
        const height = Math.round(svg.getBoundingClientRect().height);
        return {labels, bars, legend: text('g.role-legend text'), title: text('g.role-title text'),
                height};
    })"""


def chart_picture(page) -> list[dict | None]:
    """What each chart shows a person, position by position: the x labels left to right, every
    bar's box, colour and opacity, the legend and the title. DOM order is not used, because Vega
    appends the marks of an updated chart in the order their data arrived."""
    return page.evaluate(_PICTURE)


def settled_picture(page, bars: list[int] | None = None, timeout: float = 90) -> list:
    """The charts' picture once the run is over and two reads 300 ms apart agree, and each
    chart draws `bars` bars (without `bars`: three charts, each with some)."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        wait_for_app(page)
        stale = page.locator('[data-stale="true"]').count()
        current = chart_picture(page)
        counts = [len(c["bars"]) if c else 0 for c in current]
        ready = counts == bars if bars is not None else len(counts) == 3 and all(counts)
        if ready and not stale and current == previous:
            return current
        previous = current
        page.wait_for_timeout(300)
    raise TimeoutError(
        f"bars {counts} (wanted {bars}), stale {stale}: {json.dumps(previous)[:2000]}"
    )


def choose_period(page, label: str) -> None:
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=label, exact=True).click()


def choose_team(page, team: str) -> None:
    """Adds a team to the sidebar's Teams and closes the list, as a person would."""
    page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').click()
    page.get_by_role("option", name=team, exact=True).click()
    page.keyboard.press("Escape")
