import gc
import os
import sys


def _tune_allocators() -> None:
    """Allocator settings for this short process, which reads a large dataset once and exits.

    Set before numpy and pyarrow load, which read them once; a choice of the user's stands.
    """
    if sys.platform != "win32":  # pyarrow's Windows builds have no jemalloc
        # jemalloc hands the buffers of each decoded batch back for the next one, where Arrow's
        # default (mimalloc) keeps a heap per reading thread: a smaller peak, fewer page faults.
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    # Nothing here multiplies matrices; OpenBLAS's idle threads would only take CPU at startup.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if sys.platform.startswith("linux") and not any(
        k.startswith("MALLOC_") or k == "GLIBC_TUNABLES" for k in os.environ
    ):
        # glibc maps each array above 128 KB afresh and unmaps it when freed, so every batch's
        # temporaries fault their pages in again. Kept in the heap, the pages are reused.
        import ctypes

        try:
            mallopt = ctypes.CDLL(None).mallopt
        except (OSError, AttributeError):  # not glibc
            return
        mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD
        mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD


_tune_allocators()
# A single report allocates few cycles and exits: collecting them is time taken from the answer.
gc.disable()

from metrics.cli import main  # noqa: E402

code = main()
sys.stdout.flush()
sys.stderr.flush()
# Tearing down a gigabyte of arrays object by object costs a third of a second; the answer is out.
os._exit(code)
