import os
import sys

from metrics.cli import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
# Tearing down a gigabyte of arrays object by object costs a third of a second; the answer is out.
os._exit(code)
