import sys

from metrics.cli import main

try:
    sys.exit(main())
except KeyboardInterrupt:
    sys.exit(130)
