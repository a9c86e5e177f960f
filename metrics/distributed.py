"""The same partition functions on a Dask distributed cluster (`--scheduler ADDRESS`).

Workers read the dataset at the same path. Each unit of requests is scanned where Dask places
it; each partition is folded on a worker from its pieces, which Dask moves between workers; the
client receives the broken rules, the id ranges and the folded ledger, never the requests.
"""

from __future__ import annotations

from concurrent.futures import CancelledError

import numpy as np

from metrics.opening import fold_part, repeated_hashes
from metrics.read import short
from metrics.scan import Scanned, hash_unit, scan_unit


def _pieces(scanned: Scanned, key) -> list:
    return scanned.pieces.get(key, [])


WORKER_WAIT = 10


class SchedulerError(Exception):
    """The cluster cannot be used: a usage error, not a broken dataset."""


class DaskRunner:
    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise SchedulerError("--scheduler needs Dask: pip install -e '.[dask]'") from None
        try:
            self.client = Client(address, set_as_default=False, timeout=10)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SchedulerError(f"no Dask scheduler answers at {address} ({short(exc)})") from None
        try:  # workers started beside the scheduler may still be registering
            self.client.wait_for_workers(1, timeout=WORKER_WAIT)
        except TimeoutError:
            self.client.close()
            raise SchedulerError(
                f"the Dask scheduler at {address} has no workers ({WORKER_WAIT} s waited)"
            ) from None
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        self.threads = sum(w["nthreads"] for w in workers)
        # The least memory a worker thread has, where a partition is folded; None: unlimited.
        per_thread = [(w.get("memory_limit") or 0) // max(w["nthreads"], 1) for w in workers]
        self.memory = min(per_thread) if per_thread and all(per_thread) else None
        self.scans: list = []

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb) -> None:
        from distributed.comm import CommClosedError
        from distributed.scheduler import KilledWorker

        try:
            self.client.close()
        finally:
            # A TimeoutError with an errno is a file's (a shared path that timed out), not Dask's.
            timeout = isinstance(exc, TimeoutError) and exc.errno is None
            if timeout or isinstance(exc, CancelledError | KilledWorker | CommClosedError):
                raise SchedulerError(
                    f"the Dask cluster lost part of the work ({short(exc)}). A worker may have "
                    "died, for instance over its memory limit, with results Dask could not "
                    "compute again: give the workers more memory, or more workers"
                ) from None

    def _per_part(self, results, key):
        return [self.client.submit(_pieces, r, key, pure=False) for r in results]

    def scan(self, units, keys) -> list[Scanned]:
        self.keys = self.client.scatter(keys, broadcast=True)
        self.scans = self.client.map(scan_unit, units, keys=self.keys, pure=False)
        return self.client.gather(self.client.map(Scanned.summary, self.scans, pure=False))

    def repeated(self, units, keys, rehash: bool) -> np.ndarray:
        results = (
            self.client.map(hash_unit, units, keys=self.keys, pure=False) if rehash else self.scans
        )
        found = [
            self.client.submit(repeated_hashes, *self._per_part(results, ("ids", p)), pure=False)
            for p in range(keys.id_parts)
        ]
        return np.concatenate([np.empty(0, np.uint64), *self.client.gather(found)])

    def folds(self, ctx, parts: int):
        """Two partitions per thread in flight: a worker fetches the pieces of every fold it is
        given at once, and with all folds given, small workers spilled and reloaded pieces
        (docs/performance.md, session F)."""
        ctx = self.client.scatter(ctx, broadcast=True)

        def submit(p):
            pieces = self._per_part(self.scans, ("rows", p))
            return self.client.submit(fold_part, ctx, *pieces, pure=False)

        window = 2 * self.threads
        folded = [submit(p) for p in range(min(window, parts))]
        for p in range(parts):
            if p + window < parts:
                folded.append(submit(p + window))
            else:
                self.scans = []  # a unit's result is freed once its pieces are picked out
            yield folded[p].result()  # one partition at a time in the client's memory
            folded[p].release()
