import os
import sys

from metrics.cli import main

try:
    code = main()
except KeyboardInterrupt:
    code = 130
except Exception as exc:  # noqa: BLE001 - a person gets a sentence, never a traceback
    print(f"python -m metrics: internal error ({type(exc).__name__}: {exc})", file=sys.stderr)
    code = 1
sys.stdout.flush()
sys.stderr.flush()
# The answer is out: freeing the ledger's arrays one by one would only make the caller wait.
os._exit(code)
