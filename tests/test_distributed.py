"""`--scheduler`: the engine on a real Dask cluster, a `dask scheduler` and two `dask worker`
processes on this machine, must print byte for byte what it prints alone, with both workers
doing part of the work."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from tests.browser.server import free_port
from tests.datasets import worked_example
from tests.test_reading import _org, _write

WorkerPlugin = pytest.importorskip("distributed.diagnostics.plugin").WorkerPlugin
ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def _cluster(logs: Path, workers: list[tuple[list[str], dict]]):
    """A `dask scheduler` and one `dask worker` process per (options, environment)."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dask = [sys.executable, "-m", "dask"]
    port = address.rsplit(":", 1)[1]
    cmds = [([*dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], {})]
    cmds += [([*dask, "worker", address, "--no-dashboard", *o], e) for o, e in workers]
    procs = []
    try:
        for i, (cmd, extra) in enumerate(cmds):
            log = open(logs / f"{i}.log", "w")  # noqa: SIM115 - closed with the process
            run = subprocess.Popen(cmd, cwd=ROOT, env={**env, **extra}, stdout=log, stderr=log)
            procs.append((run, log))
            if i == 0:
                time.sleep(1)
        with Client(address, timeout=60) as client:
            if workers:
                client.wait_for_workers(len(workers), timeout=60)
            yield address, client
    finally:
        for proc, log in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    worker = ["--nworkers", "1", "--nthreads", "1", "--memory-limit", "2GB"]
    # The second worker keeps at most 2 bytes in memory: every result is spilled to disk, so
    # it crosses a process boundary as pickled bytes, as under memory pressure.
    spills = {"DASK_DISTRIBUTED__WORKER__MEMORY__TARGET": "1e-9"}
    with _cluster(tmp_path_factory.mktemp("dask"), [(worker, {}), (worker, spills)]) as c:
        yield c


def _run(*args, scheduler=None):
    extra = ["--scheduler", scheduler] if scheduler else []
    return subprocess.run(
        [sys.executable, "-m", "metrics", *args, "--no-cache", *extra],
        capture_output=True,
        cwd=ROOT,
        timeout=300,
    )


def _executed(client) -> dict:
    return client.run(lambda dask_worker: dask_worker.state.executed_count)


def _spilling(client) -> tuple[int, float, float]:
    """The spilling worker's tasks run, and its results written to and read back from disk."""

    def counts(dask_worker):
        import dask

        m = dask_worker.data.cumulative_metrics
        spills = dask.config.get("distributed.worker.memory.target") < 1e-6
        return (
            spills,
            dask_worker.state.executed_count,
            m["disk-write", "count"],
            m["disk-read", "count"],
        )

    ((_, *found),) = (c for c in client.run(counts).values() if c[0])
    return tuple(found)


def test_every_command_prints_the_same_bytes_on_a_two_worker_cluster(cluster, tmp_path):
    address, client = cluster
    users, licenses, reqs, topups = _org(6_000)
    root = _write(tmp_path / "org", users, licenses, reqs, topups, partitioned=True)
    before, (ran, written, read) = _executed(client), _spilling(client)
    for args in (
        ("report", "--start", "2026-01-01", "--end", "2026-03-31", "--format", "json"),
        ("report", "--period", "all-time", "--as-of", "2026-03-31", "--granularity", "week"),
        ("teams", "--period", "last-month", "--as-of", "2026-03-31", "--format", "json"),
        ("forecast", "--as-of", "2026-03-10", "--format", "json"),
    ):
        alone = _run(*args[:1], "--data", str(root), *args[1:])
        spread = _run(*args[:1], "--data", str(root), *args[1:], scheduler=address)
        assert alone.returncode == 0, alone.stderr
        assert (spread.returncode, spread.stdout, spread.stderr) == (0, alone.stdout, b"")
    after = _executed(client)
    # Both workers scanned units and folded partitions: the job was spread, not shipped.
    assert all(after[w] > before.get(w, 0) for w in after) and len(after) == 2
    # Every result the spilling worker computed went to disk, and came back from it intact.
    now_ran, now_written, now_read = _spilling(client)
    assert now_written - written >= now_ran - ran > 0 and now_read > read


def test_a_rejected_dataset_is_rejected_alike(cluster, tmp_path):
    address, _ = cluster
    users, licenses, reqs, _ = _org(3_000)
    for i, r in enumerate(reqs):
        r["request_id"] = f"r{i:06d}"
    # Two months' files increase and are summed up by their ranges; the third repeats an id
    # of the first, so every unit is hashed again on the workers, as a mixed dataset is.
    reqs[2_999]["request_id"] = reqs[10]["request_id"]
    reqs[1_500]["user_id"] = "ghost"
    root = _write(tmp_path / "bad", users, licenses, reqs, partitioned=True)
    args = ("report", "--data", str(root), "--period", "all-time", "--format", "json")
    alone, spread = _run(*args), _run(*args, scheduler=address)
    assert alone.returncode == spread.returncode == 3
    assert spread.stdout == b"" and spread.stderr == alone.stderr
    assert b"must be unique (2 rows, e.g. 'r000010')" in spread.stderr
    assert b"ghost" not in spread.stdout


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path):
    root = worked_example(tmp_path / "one")
    p = _run(
        "report",
        "--data",
        str(root),
        "--period",
        "all-time",
        scheduler=f"tcp://127.0.0.1:{free_port()}",
    )
    assert p.returncode == 2 and b"Traceback" not in p.stderr
    assert b"scheduler" in p.stderr


class _DiesOnScan(WorkerPlugin):
    """A worker plugin whose worker dies as it starts to scan a unit (`suffix`: only the unit
    whose key ends so), as one that goes over its memory limit does."""

    def __init__(self, suffix: str = "") -> None:
        self.suffix = suffix

    def transition(self, key, start, finish, **kwargs):
        key = str(key)
        if finish == "executing" and key.startswith("scan_unit") and key.endswith(self.suffix):
            os._exit(1)


@pytest.mark.parametrize(
    ("workers", "suffix"),
    [
        # The only worker dies, and the keys sent to it with it.
        ([["--nthreads", "1", "--no-nanny"]], ""),
        # Two workers under nannies: one unit kills whichever worker scans it, so both die
        # in turn; their restarts do not bring back the keys sent to them.
        ([["--nthreads", "1"]] * 2, "-0"),
    ],
    ids=["only-worker-dies", "workers-die-in-turn"],
)
def test_a_worker_lost_during_the_run_is_a_clear_error(tmp_path, workers, suffix):
    users, licenses, reqs, topups = _org(3_000)
    root = _write(tmp_path / "org", users, licenses, reqs, topups)
    with _cluster(tmp_path, [(w, {}) for w in workers]) as (address, client):
        client.register_plugin(_DiesOnScan(suffix), name="dies-on-scan")
        p = _run("report", "--data", str(root), "--period", "all-time", scheduler=address)
    assert p.returncode == 2 and p.stdout == b"" and b"Traceback" not in p.stderr
    assert b"the Dask cluster lost part of the work" in p.stderr
    assert b"give the workers more memory" in p.stderr


def test_a_scheduler_without_workers_is_a_clear_error(tmp_path):
    root = worked_example(tmp_path / "one")
    with _cluster(tmp_path, []) as (address, _):
        p = _run("report", "--data", str(root), "--period", "all-time", scheduler=address)
    assert p.returncode == 2 and b"Traceback" not in p.stderr
    assert b"has no workers" in p.stderr


def test_partitions_are_sized_by_the_workers_memory(cluster):
    from metrics.distributed import DaskRunner

    address, _ = cluster
    with DaskRunner(address) as runner:
        # The fixture's two workers: one thread and --memory-limit 2GB each.
        assert (runner.threads, runner.memory) == (2, 2 * 10**9)


def test_a_workers_memory_manager_counts_the_pieces_a_scanned_unit_holds():
    import numpy as np
    import pyarrow as pa
    from dask.sizeof import sizeof

    from metrics.scan import HASH_SCHEMA, Scanned

    # Dask spills a worker's results to disk by their sizes; a unit's pieces are most of it.
    hashes = pa.record_batch([pa.array(np.arange(100_000, dtype=np.uint64))], schema=HASH_SCHEMA)
    scanned = Scanned(pieces={("ids", 0): [hashes], ("ids", 1): [hashes.slice(0, 50_000)]})
    assert sizeof(scanned) >= 1_200_000 > sizeof(Scanned())


def test_a_scanned_unit_is_pickled_with_its_pieces_rows_only():
    import pickle

    import numpy as np
    import pyarrow as pa
    from distributed.protocol import deserialize_bytes, serialize_bytelist

    from metrics.rules import Checker
    from metrics.scan import ROWS_SCHEMA, Scanned

    # A read batch's counted rows are one batch, sliced into a piece per partition; pickling a
    # slice writes the whole batch, so a spilled unit of 100 partitions would weigh 100 of them.
    n = 100_000
    ids = pa.array([f"r{i:07d}" for i in range(n)], pa.large_string())
    numbers = np.arange(n)
    rows = pa.record_batch(
        [numbers, numbers.astype(np.int32), (numbers % 4).astype(np.int8), numbers, ids],
        schema=ROWS_SCHEMA,
    )
    checker = Checker()
    checker.add("requests", "ts", "a rule", 2, ["request_id='r0000001'"])
    pieces = {("rows", p): [rows.slice(p * 1_000, 1_000)] for p in range(n // 1_000)}
    scanned = Scanned(checker, 42, [(b"r0000000", b"r0099999")], True, pieces)
    data = pickle.dumps(scanned, protocol=5)
    assert len(data) < 1.2 * rows.nbytes
    frames = serialize_bytelist(scanned)  # what a worker writes when it spills
    assert sum(memoryview(f).nbytes for f in frames) < 1.2 * rows.nbytes
    assert deserialize_bytes(b"".join(frames)).pieces.keys() == pieces.keys()
    # A task's list of pieces moves between workers as Dask serializes a list of batches,
    # one by one with its Arrow serializer, not by pickling the slices.
    moved = serialize_bytelist(pieces[("rows", 3)])
    assert sum(memoryview(f).nbytes for f in moved) < 2 * pieces[("rows", 3)][0].nbytes + 10_000
    back = pickle.loads(data)
    assert (back.checker.found, back.micro, back.ranges, back.hashed) == (
        checker.found,
        42,
        [(b"r0000000", b"r0099999")],
        True,
    )
    assert back.pieces.keys() == pieces.keys()
    assert all(
        pa.Table.from_batches(back.pieces[k]).equals(pa.Table.from_batches(pieces[k]))
        for k in pieces
    )


@pytest.mark.parametrize(
    ("rows", "memory", "fold_memory", "threads"),
    [
        (68_781_532, (2 << 30) - (512 << 20), None, 0),  # alone, default setting
        (68_781_532, (2 << 30) - (512 << 20), 12_600_000_000, 2),  # two 12 GB workers
        (68_781_532, 64 << 20, 64 << 30, 8),  # a small client, workers with 64 GB a thread
        (2_000, 1 << 30, 2 << 30, 16),  # few rows, many threads
        (0, 1 << 30, None, 0),
    ],
)
def test_every_partition_folds_in_its_share_and_comes_back_within_the_ledger_budget(
    rows, memory, fold_memory, threads
):
    from metrics.dataset import Parts
    from metrics.opening import FOLD_BYTES, partitions

    n = partitions(rows, memory, fold_memory, threads)
    fits = [
        rows / n * FOLD_BYTES <= (fold_memory or memory) / 6,
        rows / n * Parts.ROW_BYTES <= memory / 4,
        n >= max(1, 2 * threads),
    ]
    assert all(fits)
    if n > max(1, 2 * threads):  # and no more of them than that takes
        fewer = n - 1
        assert rows / fewer * FOLD_BYTES > (fold_memory or memory) / 6 or (
            rows / fewer * Parts.ROW_BYTES > memory / 4
        )


def test_the_workers_memory_limits_decide_the_partitions(cluster, tmp_path, monkeypatch):
    from distributed import Client

    import metrics
    from metrics import distributed, opening

    address, _ = cluster
    users, licenses, reqs, topups = _org(2_000)
    root = _write(tmp_path / "org", users, licenses, reqs, topups)
    period = metrics.Period(date(2026, 1, 1), date(2026, 3, 31))
    alone = metrics.open_dataset(root, cache_dir=False).report(period)
    folded = []
    real_folds = distributed.DaskRunner.folds

    def folds(self, ctx, parts):
        folded.append(parts)
        return real_folds(self, ctx, parts)

    monkeypatch.setattr(distributed.DaskRunner, "folds", folds)
    real_info = Client.scheduler_info
    memory = (1 << 30) - opening.RESERVED
    # 2,000 requests: 10 partitions fold within a sixth of 240 kB; without limits, 2 per thread.
    for limit, expected in ((240_000, 10), (0, 4)):

        def info(self, *args, limit=limit, **kwargs):
            out = real_info(self, *args, **kwargs)
            for w in out["workers"].values():
                w["memory_limit"] = limit
            return out

        monkeypatch.setattr(Client, "scheduler_info", info)
        ds = metrics.open_dataset(root, cache_dir=False, scheduler=address, memory=1 << 30)
        assert ds.report(period) == alone
        assert folded[-1] == expected == opening.partitions(2_000, memory, limit, 2)
