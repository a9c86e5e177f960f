import sys

from metrics.cli import main

try:
    sys.exit(main())
except KeyboardInterrupt:
    sys.exit(130)
except Exception as exc:  # noqa: BLE001 - a person gets a sentence, never a traceback
    print(f"python -m metrics: internal error ({type(exc).__name__}: {exc})", file=sys.stderr)
    sys.exit(1)
