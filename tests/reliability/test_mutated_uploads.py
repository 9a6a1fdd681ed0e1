"""Mutated WebP and AVIF uploads through nginx (issue 12): camera-like files with bytes
flipped, cut short, boxes and chunks duplicated and lengths that lie
(tests/support/mutations.py). Each gets a 201, whose served file is metadata.py's
rewrite of the upload, or a 4xx with a JSON error; never a 5xx, and a refusal leaves
nothing behind."""

from __future__ import annotations

import pytest
from hypothesis import event, given, note
from support import mutations
from support.stack import start_stack

from .harness import LOAD_SETTINGS, as_stored, assert_nothing_left_behind, examples, is_json_error

FIGURE_CLASS = "mutated WebP and AVIF uploads (hypothesis)"
REFUSALS = {400, 413, 415, 422}


@pytest.fixture(scope="module")
def unthrottled_stack(tmp_path_factory):
    """A stack whose upload rate limit lets a few hundred uploads through in seconds."""
    with start_stack(tmp_path_factory.mktemp("stack"), **LOAD_SETTINGS) as running:
        yield running


@given(file=mutations.mutated_files(mimes=("image/webp", "image/avif")))
@examples(ci=200, full=2000)
def test_a_mutated_webp_or_avif_upload_gets_a_201_or_a_json_4xx_and_never_a_5xx(unthrottled_stack, tally, file):
    stack = unthrottled_stack
    mime, data = file
    tally.case()

    reply = stack.upload(data, "photo", mime)

    note(f"{reply.status} {reply.body[:300]!r}")
    event(f"status {reply.status}")
    if reply.status == 201:
        served = stack.get(f"/images/{reply.json()['name']}")
        assert served.status == 200 and served.body == as_stored(data)
    else:
        assert reply.status in REFUSALS, reply.status
        assert is_json_error(reply), reply.body[:300]
        assert_nothing_left_behind(stack)
