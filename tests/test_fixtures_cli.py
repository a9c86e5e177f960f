"""`python -m fixtures generate`: layout, refusal to overwrite and exit statuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.cli import main

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--preset", "small", "--users", "20", "--months", "2", "--end", "2026-02-10", "--quiet"]


def test_module_runs_and_writes_the_layout(tmp_path):
    out = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-m", "fixtures", "generate", "--out", str(out), *ARGS[:-1]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "20 users" in done.stdout and str(out) in done.stdout
    assert "2/" in done.stderr and "done" in done.stderr
    assert (out / "organization.json").is_file() and (out / "users.parquet").is_file()
    parts = sorted(p.parent.name for p in (out / "requests").glob("month=*/part-0.parquet"))
    assert parts == ["month=2026-01", "month=2026-02"]


def test_refuses_to_overwrite_then_force_replaces(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["generate", "--out", str(out), *ARGS]) == 0
    before = (out / "users.parquet").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["generate", "--out", str(out), *ARGS]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err
    assert (out / "users.parquet").stat().st_mtime_ns == before
    assert main(["generate", "--out", str(out), *ARGS, "--force", "--seed", "9"]) == 0


def test_output_that_is_a_file_is_refused(tmp_path, capsys):
    out = tmp_path / "data"
    out.write_text("x")
    assert main(["generate", "--out", str(out), *ARGS]) == 2
    assert out.read_text() == "x"


@pytest.mark.parametrize(
    "extra",
    [
        ["--timezone", "Mars/Olympus"],
        ["--locale", "xx_XX"],
        ["--preset", "huge"],
        ["--end", "2026-13-01"],
        ["--users", "0"],
        ["--months", "two"],
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, extra):
    with pytest.raises(SystemExit) as raised:
        code = main(["generate", "--out", str(tmp_path / "d"), *ARGS, *extra])
        raise SystemExit(code)
    assert raised.value.code == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_missing_out_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["generate"])
    assert raised.value.code == 2
