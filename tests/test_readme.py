"""The README's quick start stays true: exactly two commands, the second one being what CI runs,
both in a virtual environment (Debian's system pip is externally managed, PEP 668)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_quick_start_has_exactly_two_commands():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert "streamlit run app.py" in commands[0]
    assert "pytest" in commands[1] and "chromium" in commands[1]


def test_both_commands_install_into_a_virtual_environment():
    for command in quick_start_commands():
        steps = [s.strip() for s in command.split("&&")]
        assert "python3 -m venv .venv" in steps
        venv_at = steps.index("python3 -m venv .venv")
        pythons = [s for s in steps if " -m " in s and s != "python3 -m venv .venv"]
        assert pythons and all(s.startswith(".venv/bin/python -m ") for s in pythons), steps
        assert all(steps.index(s) > venv_at for s in pythons)
        assert "pip install" not in command.replace(".venv/bin/python -m pip install", "")


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert quick_start_commands()[1] in ci_lines
