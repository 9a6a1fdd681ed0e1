"""Fuzzing the header walks added for issue 12 with mutated camera-like files
(tests/support/mutations.py): validation's walks (WebP, AVIF, and the older formats')
read a size or refuse with NotAnImage or RefusedType, and nothing else; the metadata
rewriters of every format never raise and never write a file much longer than the
upload. Work is measured in lines of Python run in the module, which does not depend
on the machine's speed: every walk is bounded by a constant plus a multiple of the
file's size."""

from __future__ import annotations

import contextlib
import io
import itertools
import sys
from collections.abc import Iterator
from types import ModuleType

from hypothesis import HealthCheck, given, settings
from imagehost import metadata, validation
from imagehost.validation import NotAnImage, RefusedType, read_image_info
from support import mutations

FUZZING = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Lines run: a walk takes at most a few thousand steps (4096 boxes, segments, chunks or
# blocks, the walks' bounds, plus one per kilobyte or so) of a few dozen lines each, and
# these files are all under 10 KB. Past this the walk is stopped by an exception, so a
# walk that never ends fails instead of hanging.
MAX_LINES = 200_000
# A rewrite adds at most a minimal EXIF (JPEG APP1 or PNG eXIf: 38 bytes) and WebP's new
# RIFF header, which replaces the old one.
MAX_GROWTH = 64


class TooMuchWork(Exception):
    """More than MAX_LINES lines run in one call: raised inside the walk by the tracer."""


class LineCount:
    lines = 0


@contextlib.contextmanager
def lines_run_in(module: ModuleType) -> Iterator[LineCount]:
    """Count the lines Python runs in `module`'s functions while the block runs, and raise
    TooMuchWork from inside them past MAX_LINES."""
    count, filename = LineCount(), module.__file__

    def trace_lines(frame, event, arg):
        if event == "line":
            count.lines += 1
            if count.lines > MAX_LINES:
                raise TooMuchWork(f"{count.lines} lines run in {filename}")
        return trace_lines

    def trace_calls(frame, event, arg):
        return trace_lines if frame.f_code.co_filename == filename else None

    previous = sys.gettrace()
    sys.settrace(trace_calls)
    try:
        yield count
    finally:
        sys.settrace(previous)


@FUZZING
@given(file=mutations.mutated_files())
def test_a_mutated_file_is_read_or_refused_as_not_an_image_and_nothing_else(file):
    _, data = file

    with lines_run_in(validation) as work:
        try:
            info = read_image_info(io.BytesIO(data))
        except (NotAnImage, RefusedType):
            info = None

    assert work.lines <= MAX_LINES  # else TooMuchWork was raised already
    if info is not None:
        assert info.width > 0 and info.height > 0 and info.pixels >= info.width * info.height


@FUZZING
@given(file=mutations.mutated_files())
def test_a_mutated_file_is_rewritten_without_an_exception_from_spans_of_it_and_grows_by_no_more_than_an_exif(file):
    mime, data = file

    with lines_run_in(metadata) as work:
        rewrite = metadata.plan_rewrite(mime, data)
    out = bytearray()
    rewrite.write(data, out.extend)

    assert work.lines <= MAX_LINES  # else TooMuchWork was raised already
    assert len(out) <= len(data) + MAX_GROWTH
    spans = [piece for piece in rewrite.pieces if isinstance(piece, tuple)]
    assert all(0 <= start < end <= len(data) for start, end in spans)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    if mime == "image/avif":  # rewritten in place
        assert len(out) == len(data)
