"""`python -m metrics report | teams | forecast`: the console's answers for scripts and people.

What every number means: docs/metrics.md. Exit status: 0 success, 2 a usage error, 3 a dataset
that breaks a rule of the data format (docs/data-format.md), with the reasons on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date

from metrics.dataset import Dataset
from metrics.distributed import SchedulerError
from metrics.model import DatasetError, Exact, Report, Tool, dumps
from metrics.opening import MIN_MEMORY, memory_setting, open_dataset
from metrics.periods import Granularity, Period, PeriodName
from metrics.read import valid_timezone

EXIT_DATASET = 3


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def _size(text: str) -> int:
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}
    t = text.strip().upper().removesuffix("B")
    try:
        value = float(t.rstrip("KMG")) * units[t[-1] if t and t[-1] in "KMG" else ""]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"not a size such as 2GB or 512MB: {text!r}") from None
    if value < MIN_MEMORY:
        raise argparse.ArgumentTypeError(f"at least {MIN_MEMORY >> 20}MB, got {text!r}")
    return int(value)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m metrics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    helps = {
        "report": "active AI users, AI Credits consumption and limit hits for a period",
        "teams": "the same figures for every team side by side, with adoption",
        "forecast": "who will run out before their quota resets, and the month's top-up",
    }
    for name, text in helps.items():
        c = sub.add_parser(name, help=text, description=text)
        c.add_argument("--data", required=True, help="the dataset directory")
        if name == "forecast":
            c.add_argument("--as-of", type=_date, required=True, help="the last day known")
        else:
            c.add_argument("--period", choices=[n.value for n in PeriodName])
            c.add_argument("--as-of", type=_date, help="end of a named period (default: today)")
            c.add_argument("--start", type=_date, help="first day of a custom period")
            c.add_argument("--end", type=_date, help="last day of a custom period")
        if name == "report":
            c.add_argument("--granularity", choices=[g.value for g in Granularity])
            c.add_argument(
                "--tool",
                action="append",
                default=[],
                choices=[t.value for t in Tool],
                help="narrows active users and credits (repeatable); limit hits count every tool",
            )
        if name != "teams":
            c.add_argument("--team", action="append", default=[], help="repeatable")
        c.add_argument("--tz", help="IANA timezone overriding the organization's")
        c.add_argument("--format", choices=["json", "table"], default="table")
        c.add_argument("--scheduler", help="a Dask scheduler address, e.g. tcp://10.0.0.5:8786")
        c.add_argument("--memory", type=_size, help="memory the engine may use (default 2GB)")
        c.add_argument("--cache-dir", help="where the computed ledger is kept between runs")
        c.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    return p


def _check(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    if a.command != "forecast":
        if a.period and (a.start or a.end):
            p.error("give either --period or --start/--end, not both")
        if not a.period and not (a.start and a.end):
            p.error("give --period NAME, or both --start and --end")
        if a.as_of and not a.period:
            p.error("--as-of goes with --period")
        if a.start and a.end and a.end < a.start:
            p.error(f"--end {a.end} is before --start {a.start}")
    if a.tz is not None and not valid_timezone(a.tz):
        p.error(f"unknown timezone {a.tz!r} (expected an IANA name such as Europe/Prague)")


def main(argv: list[str] | None = None) -> int:
    p = parser()
    a = p.parse_args(argv)
    _check(p, a)
    try:
        memory_setting(a.memory)
    except ValueError as exc:
        p.error(str(exc))
    try:
        ds = open_dataset(
            a.data,
            timezone=a.tz,
            cache_dir=False if a.no_cache else a.cache_dir,
            scheduler=a.scheduler,
            memory=a.memory,
        )
    except DatasetError as exc:
        print(exc, file=sys.stderr)
        return EXIT_DATASET
    except SchedulerError as exc:
        p.error(str(exc))
    unknown = sorted(set(getattr(a, "team", [])) - set(ds.teams))
    if unknown:
        known = ", ".join(ds.teams) or "none"
        p.error(f"no team named {', '.join(map(repr, unknown))} in {ds.name} (teams: {known})")
    if a.command == "forecast":
        from metrics.forecast import forecast

        answer = forecast(ds, a.as_of, a.team)
    else:
        try:
            period = ds.period(a.period, a.as_of) if a.period else Period(a.start, a.end)
        except (OverflowError, ValueError):
            p.error(f"{a.period} of {a.as_of} would begin before the year 1")
        if a.command == "report":
            answer = ds.report(period, a.granularity, a.team, a.tool)
        else:
            answer = ds.by_team(period)
    text = dumps(answer.to_json()) if a.format == "json" else render(answer, ds)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` stopped reading: the answer is not wanted any more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _cell(value) -> str:
    """Credits with grouped thousands and at least 2 decimals, exact to the micro-credit."""
    if isinstance(value, Exact):
        whole, _, frac = value.decimal().partition(".")
        return f"{int(whole):,}.{frac.ljust(2, '0')}"
    return "-" if value is None else str(value)


def _grid(cols: tuple, rows: list[list], foot: list[list]) -> list[str]:
    cells = [list(cols), *([_cell(v) for v in r] for r in [*rows, *foot])]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]

    def line(r):
        return "  ".join(
            v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))
        )

    lines = [line(r) for r in cells]
    rule = "  ".join("-" * w for w in widths)
    return [
        lines[0],
        rule,
        *lines[1 : len(rows) + 1],
        *([rule] if foot else []),
        *lines[len(rows) + 1 :],
    ]


def render(answer, ds: Dataset) -> str:
    """The same answer for a person."""
    j = answer.to_json()
    when = f"as of {j['as_of']}" if "as_of" in j else f"{j['start']} .. {j['end']}"
    head, foot, rows, total = [f"{ds.name} - {when} ({j['timezone']})"], [], [], []
    if isinstance(answer, Report):
        c, h, u = j["credits"], j["limit_hits"], j["active_users"]
        head[0] += f", by {j['granularity']}"
        if answer.teams:
            head.append("teams: " + ", ".join(sorted(str(t) for t in answer.teams)))
        cols = ("bucket", "active users", "built-in", "top-up", "total", "users hit limit")
        series = (u["series"], *c["series"].values(), h["series"])
        labels = [b.label.isoformat() + " *" * b.partial for b in answer.buckets]
        rows = [list(r) for r in zip(labels, *series, strict=True)]
        total = [["period", u["total"], c["builtin"], c["topup"], c["total"], h["users"]]]
        foot = [
            f"Peak daily users who hit their limit: {h['peak_daily_users']} on {h['peak_day']}"
            if h["peak_day"]
            else "Peak daily users who hit their limit: 0"
        ]
        if any(b.partial for b in answer.buckets):
            foot.append("* partial bucket: only the days inside the period are counted")
    elif "teams" in j:
        cols = (
            "team",
            "licensed",
            "active",
            "adoption",
            "built-in",
            "top-up",
            "total",
            "hit limit",
        )

        def row(name, t):
            adoption = None if t["adoption"] is None else f"{t['adoption']:.1%}"
            return [
                name,
                t["licensed_users"],
                t["active_users"],
                adoption,
                *t["credits"].values(),
                t["limit_hit_users"],
            ]

        rows = [row("(no team)" if t["team"] is None else t["team"], t) for t in j["teams"]]
        total = [row("organization", j["organization"])]
    else:
        cols = ("user", "license", "spent", "allowance", "expected to run out", "period ends")
        keys = ("user_id", "license_id", "spent", "allowance", "projected_hit_day", "period_end")
        rows = [[r[k] for k in keys] for r in j["at_risk"]]
        m = j["topup_month"]
        foot = [
            f"Top-up AI Credits in {m['month'][:7]}: {_cell(m['spent'])} so far, "
            f"{_cell(m['projected'])} expected for the whole month"
        ]
    body = _grid(cols, rows, total) if rows or total else ["Nobody is expected to run out."]
    return "\n".join([*head, "", *body, "", *foot])
