"""Writes docs/screenshot.png: the main page on the demo organization, as the README shows it.

    python tests/benchmarks/screenshot.py [--data DIR] [--out docs/screenshot.png]

Without --data it generates the demo preset with a fixed end day and seed into a temporary
directory, so the picture only changes when the app or the generator does.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.browser.server import chromium, settled_picture, streamlit_server  # noqa: E402

END = date(2026, 11, 24)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="dataset directory (default: a generated demo)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    parser.add_argument("--query", default="period=Last+6+months")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            import fixtures

            data = str(Path(tmp) / "demo")
            fixtures.generate(data, fixtures.GeneratorConfig.preset("demo", end=END, seed=7))
        env = {
            "AI_CONSOLE_DATASET": data,
            "AI_CONSOLE_AS_OF": END.isoformat(),
            "AI_CONSOLE_CACHE_DIR": str(Path(tmp) / "cache"),
        }
        with streamlit_server(env) as url, chromium(viewport=(1440, 2420)) as context:
            page = context.new_page()
            page.goto(f"{url}/?{args.query}")
            settled_picture(page)
            page.wait_for_timeout(800)
            page.screenshot(path=args.out, full_page=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
