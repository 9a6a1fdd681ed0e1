"""imagehost's performance benchmark (run it with bench/run).

__main__    flags, the order of things, the report's frame
scenarios   S1-S5: the loads, imagehost and the ceiling in alternation, what each run used
ceiling     the ceiling nginx: what nginx alone does on this machine (ceiling.conf.template)
wrk         one wrk run with load.lua, and its result
fill        rows straight into the index (and files) for the listing and start-up scenarios
startup     the supervisor's start-up time on a big index
machine     /proc: the machine's description, CPU time and peak RSS of processes
floor       the storage floor: an upload's durable steps alone, no HTTP
report      medians, ratios, targets, Markdown tables
profile     bench/profile: perf and py-spy while one scenario's load runs
previews    bench/previews: Pillow or libvips for previews, on 12-megapixel photos
stores      --storage s3, --index postgres: the radosgw and PostgreSQL behind the stack
upload_cpu  U1: the backend's CPU per upload, through /upload and as a direct upload

It imports the backend (imagehost), the local runner (local_runner) and the tests'
helpers (support), which start the stack: bench/run and bench/profile put them on
PYTHONPATH, as pytest's settings in pyproject.toml do for the tests.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
