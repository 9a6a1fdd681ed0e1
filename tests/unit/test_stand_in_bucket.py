"""services/s3/make-bucket.py, the compose stand-in's bucket: it runs in a container
without imagehost's code, so it writes its public-read policy out itself, checked here
against the owner, object_store.public_read_policy."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from imagehost.object_store import public_read_policy

MAKE_BUCKET = Path(__file__).resolve().parents[2] / "services" / "s3" / "make-bucket.py"


def make_bucket_script() -> ModuleType:
    """The script as a module, without running it (its work is under `__main__`)."""
    spec = importlib.util.spec_from_file_location("make_bucket", MAKE_BUCKET)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_stand_in_bucket_lets_anyone_read_what_the_app_says_and_nothing_more():
    assert make_bucket_script().anyone_reads("imagehost") == public_read_policy("imagehost", "")
