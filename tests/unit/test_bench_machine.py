"""The bench's process accounting (bench/imagehost_bench/machine.py)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from imagehost_bench import machine


def named_child(name: str) -> subprocess.Popen:
    """A child process whose command line reads `name`, as nginx's children do."""
    child = subprocess.Popen(["bash", "-c", f'exec -a "{name}" sleep 30'])
    deadline = time.monotonic() + 5
    while not Path(f"/proc/{child.pid}/cmdline").read_text().startswith(name):
        assert time.monotonic() < deadline, f"{name} did not start"
        time.sleep(0.01)
    return child


def test_nginx_serving_processes_leave_out_the_cache_loader_that_exits_a_minute_after_the_start():
    worker = named_child("nginx: worker process")
    manager = named_child("nginx: cache manager process")
    loader = named_child("nginx: cache loader process")
    try:
        serving = machine.nginx_serving_processes(os.getpid())
        assert worker.pid in serving and manager.pid in serving
        assert loader.pid not in serving
    finally:
        for child in (worker, manager, loader):
            child.kill()
            child.wait()
