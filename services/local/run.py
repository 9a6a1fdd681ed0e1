#!/usr/bin/env python3
"""Run imagehost on this machine: `python services/local/run.py [--run-dir DIR]` (`make
run` does this). The runner itself is local_runner.py beside this script."""

import sys
from pathlib import Path

# Python puts this script's folder on the path (local_runner); the backend's package is
# the one thing a plain `python services/local/run.py` has to be told where to find.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backend"))

from local_runner import main

if __name__ == "__main__":
    sys.exit(main())
