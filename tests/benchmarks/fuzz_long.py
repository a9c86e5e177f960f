"""The fuzz suite's strategies, run long (a script, not a test).

    python tests/benchmarks/fuzz_long.py [--examples 2000] [--seed 1] [--known-bugs]
                                         [--kinds storage,values,damage] [--show 3]

Builds `--examples` datasets with the strategies of tests/fuzz_strategies.py (a small dataset,
then up to three mutations of any kind), runs `python -m metrics report` on each (through the
fork server; FUZZ_CLI=subprocess for a new interpreter per run) and checks what
tests/test_fuzz.py checks: exit 0 with the reference's numbers or exit 3 naming exactly the
broken rules, never a traceback, input files unchanged. Unlike the test it does not stop at the
first failure: it prints counts per outcome and per mutation kind, and the first failures of
each kind of failure. `--known-bugs` also generates what triggers the engine bugs listed in
docs/reliability.md (string_view columns, instants beyond ns's range, folders in place of
optional files, counted requests on the first and last days of the calendar).
Exit status 1 when any example failed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests import fuzz_strategies as fz  # noqa: E402

GROUPS = {
    "storage": fz.STORAGE_KINDS,
    "values": fz.VALUE_KINDS,
    "damage": fz.DAMAGE_KINDS,
}


def signature(exc: BaseException) -> str:
    """A short name for a failure, to group the same failure met many times: the check that
    failed and the last line of what it shows (an exception, an issue), digits and paths
    blurred."""
    lines = [x for x in str(exc).strip().splitlines() if x.strip()] or [type(exc).__name__]
    head = lines[0].split(":")[0] if isinstance(exc, AssertionError) else type(exc).__name__
    tail = lines[-1].strip()
    tail = re.sub(r"/tmp/\S+", "DIR", tail)
    tail = re.sub(r"\d+", "N", tail)
    return f"{head[:60]} | {tail[:140]}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--known-bugs", action="store_true")
    p.add_argument("--kinds", default="storage,values,damage")
    p.add_argument("--show", type=int, default=3, help="failures printed per signature")
    a = p.parse_args()
    kinds = tuple(k for g in a.kinds.split(",") for k in GROUPS[g])

    outcomes: Counter = Counter()
    per_kind: dict[str, Counter] = defaultdict(Counter)
    failures: dict[str, list] = defaultdict(list)
    seconds = []
    workdir = Path(tempfile.mkdtemp(prefix="fuzz-long-"))

    @seed(a.seed)
    @settings(
        max_examples=a.examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def explore(data):
        case = data.draw(fz.cases(kinds=kinds, known_bugs=a.known_bugs))
        started = time.perf_counter()
        try:
            out = fz.run_case(case, workdir, known_bugs=a.known_bugs)
            result = out.kind
        except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
            result = "FAILED"
            sig = signature(exc)
            failures[sig].append((case, traceback.format_exc()))
        seconds.append(time.perf_counter() - started)
        outcomes[result] += 1
        for kind in set(case.mutations) or {"(none)"}:
            per_kind[kind][result] += 1

    started = time.perf_counter()
    try:
        explore()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    wall = time.perf_counter() - started

    print(
        f"date {date.today()}  seed {a.seed}  examples {sum(outcomes.values())}  "
        f"known bugs {'included' if a.known_bugs else 'avoided'}  wall {wall:.0f} s  "
        f"median run {sorted(seconds)[len(seconds) // 2]:.2f} s"
    )
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print(f"{'mutation':<22}{'examples':>9}{'accepted':>9}{'rejected':>9}{'FAILED':>8}")
    for kind in sorted(per_kind):
        c = per_kind[kind]
        print(f"{kind:<22}{sum(c.values()):>9}{c['accepted']:>9}{c['rejected']:>9}{c['FAILED']:>8}")
    for sig, found in sorted(failures.items(), key=lambda kv: -len(kv[1])):
        print(f"\nFAILED {len(found)}x: {sig}")
        for case, tb in found[: a.show]:
            print(f"  mutations {case.mutations}  storage {case.storage}")
            print(f"  model {case.model}")
            print(f"  period {case.start}..{case.end} {case.granularity} {case.teams} {case.tz}")
            print("  " + tb.strip().splitlines()[-1][:2000])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
