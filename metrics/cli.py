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
from metrics.opening import open_dataset
from metrics.periods import Granularity, Period, PeriodName
from metrics.read import valid_timezone

EXIT_USAGE, EXIT_DATASET = 2, 3


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
    if value < 64 * 2**20:
        raise argparse.ArgumentTypeError(f"at least 64MB, got {text!r}")
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
        period = ds.period(a.period, a.as_of) if a.period else Period(a.start, a.end)
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


def _c(micro: int) -> str:
    """Credits for people: grouped thousands, at least 2 decimals, exact to the micro-credit."""
    whole, _, frac = Exact(micro).decimal().partition(".")
    return f"{int(whole):,}.{frac.ljust(2, '0')}"


def _grid(cols: tuple, rows: list[tuple], foot: list[tuple] = ()) -> list[str]:
    widths = [max(len(r[i]) for r in [cols, *rows, *foot]) for i in range(len(cols))]

    def line(r):
        return "  ".join(
            v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    return [line(cols), rule, *map(line, rows), *([rule, *map(line, foot)] if foot else [])]


def render(answer, ds: Dataset) -> str:
    """The same answer for a person."""
    j = answer.to_json()
    if isinstance(answer, Report):
        c, h, u = answer.credits, answer.limit_hits, answer.active_users
        head = f"{ds.name} - {j['start']} .. {j['end']} ({j['timezone']}), by {j['granularity']}"
        if answer.teams:
            head += "\nteams: " + ", ".join(str(t) for t in sorted(answer.teams, key=str))
        cols = ("bucket", "active users", "built-in", "top-up", "total", "users hit limit")
        rows = [
            (
                b.label.isoformat() + (" *" if b.partial else ""),
                str(u.series[i]),
                _c(c.micro_builtin[i]),
                _c(c.micro_topup[i]),
                _c(c.micro_builtin[i] + c.micro_topup[i]),
                str(h.series[i]),
            )
            for i, b in enumerate(answer.buckets)
        ]
        s = c.sums_json()
        total = (
            "period",
            str(u.total),
            *(_c(s[k].micro) for k in ("builtin", "topup", "total")),
            str(h.users),
        )
        peak = f"{h.peak_daily_users} on {h.peak_day}" if h.peak_day else "0"
        foot = [f"Peak daily users who hit their limit: {peak}"]
        if any(b.partial for b in answer.buckets):
            foot.append("* partial bucket: only the days inside the period are counted")
        return "\n".join([head, "", *_grid(cols, rows, [total]), "", *foot])
    if "teams" in j:
        head = f"{ds.name} - {j['start']} .. {j['end']} ({j['timezone']}), teams"
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
            a = "-" if t["adoption"] is None else f"{t['adoption']:.1%}"
            cr = t["credits"]
            return (
                name,
                str(t["licensed_users"]),
                str(t["active_users"]),
                a,
                *(_c(cr[k].micro) for k in ("builtin", "topup", "total")),
                str(t["limit_hit_users"]),
            )

        rows = [row(t["team"] if t["team"] is not None else "(no team)", t) for t in j["teams"]]
        return "\n".join([head, "", *_grid(cols, rows, [row("organization", j["organization"])])])
    head = f"{ds.name} - as of {j['as_of']} ({j['timezone']})"
    cols = ("user", "license", "spent", "allowance", "expected to run out", "period ends")
    rows = [
        (
            r.user_id,
            r.license_id,
            _c(r.spent),
            _c(r.allowance),
            r.projected_hit_day.isoformat(),
            r.period_end.isoformat(),
        )
        for r in answer.at_risk
    ]
    m = j["topup_month"]
    foot = (
        f"Top-up AI Credits in {m['month'][:7]}: {_c(answer.topup_spent)} so far, "
        f"{_c(answer.topup_projected)} expected for the whole month"
    )
    lines = _grid(cols, rows) if rows else ["Nobody is expected to run out before their reset."]
    return "\n".join([head, "", *lines, "", foot])
