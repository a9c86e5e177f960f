"""`python -m metrics report`: the contract's section 6, for scripts and for people."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from metrics.model import DatasetError, Report
from metrics.opening import open_dataset
from metrics.periods import Granularity, Period, PeriodName
from metrics.reading import valid_timezone

EXIT_USAGE = 2
EXIT_DATASET = 3


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The whole parser and its `report` subparser, whose usage line errors should show."""
    p = argparse.ArgumentParser(prog="python -m metrics", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="print the three metrics for a period")
    r.add_argument("--data", required=True, help="the dataset directory")
    r.add_argument("--period", choices=[n.value for n in PeriodName])
    r.add_argument("--as-of", type=_date, help="end of a predefined period (default: today)")
    r.add_argument("--start", type=_date)
    r.add_argument("--end", type=_date)
    r.add_argument("--granularity", choices=[g.value for g in Granularity])
    r.add_argument("--tz", help="IANA timezone overriding the organization's")
    r.add_argument("--team", action="append", default=[], help="repeat for several teams")
    r.add_argument("--format", choices=["json", "table"], default="table")
    r.add_argument("--cache-dir", help="where the computed ledger is kept between runs")
    r.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    return p, r


def _check_usage(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
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
    p, report_parser = parser()
    a = p.parse_args(argv)
    _check_usage(report_parser, a)
    cache = False if a.no_cache else a.cache_dir
    try:
        ds = open_dataset(a.data, timezone=a.tz, cache_dir=cache)
    except DatasetError as exc:
        print(exc, file=sys.stderr)
        return EXIT_DATASET
    except OSError as exc:
        print(f"dataset {a.data} could not be read: {exc}", file=sys.stderr)
        return EXIT_DATASET
    period = ds.period(a.period, a.as_of) if a.period else Period(a.start, a.end)
    report = ds.report(period, a.granularity, teams=a.team)
    if a.format == "json":
        print(json.dumps(report.to_json()))
    else:
        print(render_table(report, ds.name))
    return 0


def render_table(report: Report, name: str) -> str:
    c, h, u = report.credits, report.limit_hits, report.active_users
    head = [
        f"{name} - {report.period.start} .. {report.period.end} ({report.timezone}), "
        f"by {report.granularity.value}",
    ]
    if report.teams:
        head.append("teams: " + ", ".join(sorted(report.teams)))
    cols = ("bucket", "active users", "built-in", "top-up", "total", "users hit limit")
    rows = [
        (
            b.label.isoformat() + (" *" if b.partial else ""),
            str(u.series[i]),
            f"{c.builtin_series[i]:,.2f}",
            f"{c.topup_series[i]:,.2f}",
            f"{c.total_series[i]:,.2f}",
            str(h.series[i]),
        )
        for i, b in enumerate(report.buckets)
    ]
    rows.append(
        (
            "period",
            str(u.total),
            f"{c.builtin:,.2f}",
            f"{c.topup:,.2f}",
            f"{c.total:,.2f}",
            str(h.users),
        )
    )
    widths = [max(len(r[i]) for r in [cols, *rows]) for i in range(len(cols))]

    def line(r):
        return "  ".join(
            v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    body = [line(cols), rule, *[line(r) for r in rows[:-1]], rule, line(rows[-1])]
    peak = f"{h.peak_daily_users} on {h.peak_day}" if h.peak_day else "0"
    foot = [f"Peak daily users who hit their limit: {peak}"]
    if any(b.partial for b in report.buckets):
        foot.append("* partial bucket: only the days inside the period are counted")
    return "\n".join(head + [""] + body + [""] + foot)
