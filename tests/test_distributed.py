"""`--scheduler`: the engine on a real Dask cluster, a `dask scheduler` and two `dask worker`
processes on this machine, must print byte for byte what it prints alone, with both workers
doing part of the work."""

from __future__ import annotations

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

pytest.importorskip("distributed")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    logs = tmp_path_factory.mktemp("dask")
    common = ["--no-dashboard"]
    cmds = [
        [
            sys.executable,
            "-m",
            "dask",
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            address.rsplit(":", 1)[1],
            *common,
        ]
    ]
    cmds += [
        [
            sys.executable,
            "-m",
            "dask",
            "worker",
            address,
            "--nworkers",
            "1",
            "--nthreads",
            "1",
            "--memory-limit",
            "2GB",
            *common,
        ]
    ] * 2
    procs = []
    try:
        for i, cmd in enumerate(cmds):
            log = open(logs / f"{i}.log", "w")  # noqa: SIM115 - closed with the process
            procs.append((subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log), log))
            if i == 0:
                time.sleep(1)
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            yield address, client
    finally:
        for proc, log in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


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


def test_every_command_prints_the_same_bytes_on_a_two_worker_cluster(cluster, tmp_path):
    address, client = cluster
    users, licenses, reqs, topups = _org(6_000)
    root = _write(tmp_path / "org", users, licenses, reqs, topups, partitioned=True)
    before = _executed(client)
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
