"""Content tricks through nginx: polyglots and scripts, headers that lie about the image,
bodies whose framing lies (Content-Length short or long, chunked, cut off), and huge
headers. Every answer is below 500 (nginx's 501 for an unknown transfer coding, which
RFC 9112 asks for, is the one exception and is named as such), nothing but an image is
ever served, and nothing is left behind.
"""

from __future__ import annotations

import json
import struct
import uuid

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from support import images
from support.encoded import encoded

from .harness import (
    as_stored,
    assert_nothing_left_behind,
    examples,
    is_json_error,
    is_json_error_body,
    raw_exchange,
    request_head,
    split_response,
    wait_until,
)

FIGURE_CLASS = "content tricks"
SCRIPT = b"<html><body><script>alert(document.domain)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
IMAGE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
TYPES = {
    "png": ("image/png", ".png", images.png(4, 4)),
    "jpeg": ("image/jpeg", ".jpg", images.jpeg(4, 4)),
    "gif": ("image/gif", ".gif", images.gif(4, 4)),
    "webp": ("image/webp", ".webp", encoded("WEBP", (4, 4), lossless=True)),
    "avif": ("image/avif", ".avif", encoded("AVIF", (4, 4))),
}


def served_as_the_image_only(stack, name: str, data: bytes, mime: str) -> None:
    """However a browser asks for it, the file comes back as `mime`, unsniffable and
    sandboxed (and without the comments that carried a script: metadata is stripped)."""
    for accept in ("text/html", "image/svg+xml", "*/*"):
        reply = stack.get(f"/images/{name}", headers={"Accept": accept})
        assert reply.status == 200 and reply.body == as_stored(data)
        assert reply.headers["Content-Type"] == mime
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["Content-Security-Policy"] == IMAGE_CSP
        assert "Content-Disposition" not in reply.headers or "inline" not in reply.headers["Content-Disposition"]


def refused_and_gone(stack, reply, status: int, code: str) -> None:
    assert (reply.status, reply.error_code) == (status, code), reply.body[:300]
    assert_nothing_left_behind(stack)


# --- polyglots and scripts ----------------------------------------------------------------


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize(
    "filename, declared",
    [
        ("page.html", "text/html"),
        ("image.svg", "image/svg+xml"),
        ("x.png.html", "application/xhtml+xml"),
    ],
)
def test_an_image_carrying_html_or_svg_is_served_only_as_its_image_type(stack, tally, kind, filename, declared):
    mime, extension, base = TYPES[kind]
    # The script rides inside the image: a PNG ancillary chunk, a JPEG comment, a GIF
    # comment, a WebP chunk after the bitstream, an AVIF free box.
    data = {
        "webp": images.webp(images.vp8l(4, 4), images.riff_chunk(b"XMP ", SCRIPT + SVG)),
        "avif": images.avif(images.ispe(4, 4), extra=images.box(b"free", SCRIPT + SVG)),
        "png": images.png(4, 4, extra=SCRIPT + SVG),
        "jpeg": base[:2] + b"\xff\xfe" + struct.pack(">H", 2 + len(SCRIPT + SVG)) + SCRIPT + SVG + base[2:],
        "gif": base[:-1] + b"\x21\xfe" + bytes([len(SCRIPT)]) + SCRIPT + b"\x00" + base[-1:],
    }[kind]
    reply = stack.upload(data, filename, declared)
    assert reply.status == 201, reply.body
    created = reply.json()
    assert created["type"] == mime and created["name"].endswith(extension)
    served_as_the_image_only(stack, created["name"], data, mime)


@pytest.mark.parametrize(
    "data",
    [
        SVG,
        b'<?xml version="1.0"?>' + SVG,
        SCRIPT,
        b"\xef\xbb\xbf" + SCRIPT,  # a UTF-8 byte order mark first
        b"  \r\n" + SCRIPT,
        SCRIPT + images.png(),  # HTML first, an image after it
        b"GIF8" + SCRIPT,  # the first half of GIF's magic
        b"\x89PNG" + SVG,
        b"\xff\xd8" + SVG,
        b"RIFF\x00\x00\x00\x00" + SVG,
        images.ftyp(b"heic") + SVG,
    ],
    ids=[
        "svg",
        "svg-with-prolog",
        "html",
        "html-with-bom",
        "html-after-spaces",
        "html-then-png",
        "half-gif-magic",
        "half-png-magic",
        "half-jpeg-magic",
        "half-webp-magic",
        "heic-brand",
    ],
)
@pytest.mark.parametrize(
    "filename, declared", [("x.svg", "image/svg+xml"), ("x.png", "image/png"), ("x.gif", "image/gif")]
)
def test_svg_html_and_heic_are_refused_whatever_they_are_called_or_declared_as(stack, tally, data, filename, declared):
    refused_and_gone(stack, stack.upload(data, filename, declared), 415, "unsupported_type")


# --- headers that lie ---------------------------------------------------------------------


@pytest.mark.parametrize("actual", TYPES)
@pytest.mark.parametrize("claimed", TYPES)
def test_the_stored_type_and_served_type_follow_the_bytes_not_the_name_or_declared_type(stack, tally, actual, claimed):
    mime, extension, data = TYPES[actual]
    claimed_mime, claimed_extension, _ = TYPES[claimed]
    reply = stack.upload(data, "picture" + claimed_extension, claimed_mime)
    assert reply.status == 201, reply.body
    assert reply.json()["type"] == mime and reply.json()["name"].endswith(extension)
    served_as_the_image_only(stack, reply.json()["name"], data, mime)


def png_with(width: int, height: int, ihdr_length: int = 13, chunk: bytes = b"IHDR") -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return images.PNG_SIGNATURE + struct.pack(">I", ihdr_length) + chunk + ihdr + b"\0\0\0\0" + images.png()[33:]


def jpeg_with(width: int, height: int, marker: int, fill: int, segment_length: int | None) -> bytes:
    base = images.jpeg(width, height, sof_marker=marker)
    if segment_length is not None:  # an APP1 segment whose length field lies
        base = base[:2] + b"\xff\xe1" + struct.pack(">H", segment_length) + b"\0" * 8 + base[2:]
    return base[:2] + b"\xff" * fill + base[2:]


@st.composite
def gif_frames(draw) -> tuple[bytes, int, int, bool, int]:
    """A GIF whose frames may reach past its logical screen: stored with the size browsers
    show (the screen enlarged to cover the first frame), refused by the canvas covering all."""
    side = st.integers(0, 65535)
    width, height = draw(side), draw(side)
    frames = draw(st.lists(st.tuples(side, side, side, side), min_size=1, max_size=3))
    (left, top, frame_width, frame_height) = frames[0]
    shown = (max(width, left + frame_width), max(height, top + frame_height))
    canvas_width = max([width] + [f[0] + f[2] for f in frames])
    canvas_height = max([height] + [f[1] + f[3] for f in frames])
    blocks = [images.GIF_GRAPHIC_CONTROL + images.gif_frame(*f) for f in frames]
    return images.gif_of_blocks(width, height, blocks), *shown, True, canvas_width * canvas_height


header_lies = st.one_of(
    st.tuples(
        st.just("png"),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.sampled_from([13, 13, 13, 0, 12, 14, 2**32 - 1]),
        st.sampled_from([b"IHDR", b"IHDR", b"IDAT"]),
    ).map(lambda t: (png_with(t[1], t[2], t[3], t[4]), t[1], t[2], t[3] == 13 and t[4] == b"IHDR", t[1] * t[2])),
    st.tuples(st.integers(0, 65535), st.integers(0, 65535), st.sampled_from([b"87a", b"89a"])).map(
        lambda t: (images.gif(t[0], t[1], t[2]), t[0], t[1], True, t[0] * t[1])
    ),
    gif_frames(),
    st.tuples(
        st.integers(0, 65535),
        st.integers(0, 65535),
        st.integers(0xC0, 0xCF),
        st.integers(0, 5),
        st.none() | st.integers(0, 65535),
    ).map(
        lambda t: (
            jpeg_with(t[0], t[1], t[2], t[3], t[4]),
            t[0],
            t[1],
            False if t[2] in (0xC4, 0xC8, 0xCC) else True if t[4] in (None, 10) else None,
            t[0] * t[1],
        )
    ),
)


@given(lie=header_lies)
@examples(ci=40, full=1000)
def test_an_image_header_with_any_dimensions_is_stored_with_them_or_refused_as_the_contract_says(stack, tally, lie):
    """Stored with exactly the declared size when it is well-formed, 1 to 50 megapixels
    (for a GIF, of the canvas that covers every frame); 422 above that; 415 for a zero
    side or a malformed header. Never a 5xx. (A JPEG segment length that lies may skip to
    a later marker, so either answer can be right for it: `well_formed` None; a 201 must
    still carry the frame header's size.)"""
    tally.case()
    data, width, height, well_formed, pixels = lie
    reply = stack.upload(data)
    event(f"status {reply.status}")
    assert reply.status < 500
    if well_formed is None and reply.status == 201:
        assert (reply.json()["width"], reply.json()["height"]) == (width, height)
        assert stack.request("DELETE", f"/api/images/{reply.json()['name']}", headers=stack.admin()).status == 204
    elif well_formed and width and height and pixels <= 50_000_000:
        assert reply.status == 201, reply.body[:300]
        assert (reply.json()["width"], reply.json()["height"]) == (width, height)
        assert stack.request("DELETE", f"/api/images/{reply.json()['name']}", headers=stack.admin()).status == 204
    elif well_formed and width and height:
        assert (reply.status, reply.error_code) == (422, "image_too_large")
    else:
        assert reply.status in (415, 422) and is_json_error(reply), reply.body[:300]
    assert_nothing_left_behind(stack)


# --- framing that lies --------------------------------------------------------------------


def upload_head(stack, content_type: str, extra: list[tuple[str, str]]) -> bytes:
    return request_head(
        "POST", "/upload", [("Host", f"127.0.0.1:{stack.http_port}"), ("Content-Type", content_type), *extra]
    )


def test_a_body_shorter_than_its_content_length_is_never_forwarded(stack, tally):
    body, content_type = images.file_form(images.png())
    for half_close in (True, False):
        probe = uuid.uuid4().hex
        head = request_head(
            "POST",
            f"/upload?probe={probe}",
            [("Host", "localhost"), ("Content-Type", content_type), ("Content-Length", str(len(body) + 50))],
        )
        answer = raw_exchange(stack.http_port, head + body, shut_write=half_close, timeout=1)
        assert answer.statuses == [] or answer.statuses[0] in (400, 408)
        wait_until(lambda probe=probe: probe in stack.access_log(), timeout=10, message="nginx logged the request")
        line = next(line for line in stack.access_log().splitlines() if probe in line)
        assert "upstream=- " in line, line  # no worker was asked
    assert_nothing_left_behind(stack)


def test_bytes_past_the_content_length_are_a_next_request_which_nginx_refuses(stack, tally):
    data = images.png(3, 3, extra=b"exact")
    body, content_type = images.file_form(data)
    answer = raw_exchange(
        stack.http_port,
        upload_head(stack, content_type, [("Content-Length", str(len(body)))])
        + body
        + b"<script>smuggled</script>\r\n\r\n",
        until_closed=True,
        timeout=10,
    )
    # The extra bytes are a pipelined "request" to nginx, which refuses it (400) or closes.
    assert answer.statuses[0] == 201 and set(answer.statuses[1:]) <= {400}, answer.statuses
    _, _, first = split_response(answer.data)
    assert stack.get(f"/images/{json.loads(first)['name']}").body == data
    assert_nothing_left_behind(stack)


@pytest.mark.parametrize(
    "framing",
    [
        [("Content-Length", "abc")],
        [("Content-Length", "-1")],
        [("Content-Length", "1e3")],
        [("Content-Length", "99999999999999999999999")],
        [("Content-Length", "10"), ("Content-Length", "20")],
        [("Content-Length", "10, 20")],
        [("Content-Length", "{n}"), ("Transfer-Encoding", "chunked")],
        [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
    ],
    ids=["letters", "negative", "exponent", "huge", "two-values", "list", "length-and-chunked", "chunked-twice"],
)
def test_a_content_length_or_transfer_encoding_that_cannot_frame_the_body_is_refused(stack, tally, framing):
    body, content_type = images.file_form(images.png())
    framing = [(name, value.replace("{n}", str(len(body)))) for name, value in framing]
    answer = raw_exchange(stack.http_port, upload_head(stack, content_type, framing) + body, timeout=5)
    assert answer.statuses and 400 <= answer.statuses[0] < 500, answer.data[:300]
    assert_nothing_left_behind(stack)


def chunked(data: bytes, size: int, extension: bytes = b"", trailer: bytes = b"") -> bytes:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in pieces) + b"0\r\n" + trailer + b"\r\n"


@given(
    data=st.one_of(
        st.builds(images.png, st.integers(1, 30), st.integers(1, 30), extra=st.binary(max_size=3000)),
        st.builds(images.jpeg_of_size, st.integers(200, 300_000)),
    ),
    size=st.integers(1, 70_000),
    extension=st.sampled_from([b"", b";name=value", b";x"]),
    trailer=st.sampled_from([b"", b"X-Trailer: 1\r\n"]),
)
@examples(ci=15, full=200)
def test_a_chunked_upload_is_de_chunked_by_nginx_and_stored_byte_for_byte(stack, tally, data, size, extension, trailer):
    tally.case()
    body, content_type = images.file_form(data)
    answer = raw_exchange(
        stack.http_port,
        upload_head(stack, content_type, [("Transfer-Encoding", "chunked")]) + chunked(body, size, extension, trailer),
        timeout=20,
    )
    status, _, first = split_response(answer.data)
    assert status == 201, first[:300]
    assert stack.get(f"/images/{json.loads(first)['name']}").body == data


@pytest.mark.parametrize("broken", ["cut-short", "bad-size", "size-too-small", "no-final-chunk"])
def test_a_broken_or_cut_chunked_body_is_refused_and_leaves_nothing(stack, tally, broken):
    body, content_type = images.file_form(images.png_of_size(20_000))
    good = chunked(body, 4096)
    payload = {
        "cut-short": good[:5000],
        "bad-size": b"zz\r\nhello\r\n0\r\n\r\n",
        "size-too-small": b"2\r\nhello\r\n0\r\n\r\n",
        "no-final-chunk": good[:-5],
    }[broken]
    answer = raw_exchange(
        stack.http_port,
        upload_head(stack, content_type, [("Transfer-Encoding", "chunked")]) + payload,
        shut_write=True,
        timeout=5,
    )
    assert answer.statuses == [] or 400 <= answer.statuses[0] < 500, answer.data[:300]
    assert_nothing_left_behind(stack)


def test_a_chunked_body_over_the_limit_is_a_json_413_from_nginx(stack, tally):
    body, content_type = images.file_form(images.png_of_size(6 * 1024 * 1024))
    answer = raw_exchange(
        stack.http_port,
        upload_head(stack, content_type, [("Transfer-Encoding", "chunked")]) + chunked(body, 65536),
        timeout=20,
    )
    status, headers, first = split_response(answer.data)
    assert status == 413 and is_json_error_body(headers["content-type"], first)
    assert_nothing_left_behind(stack)


@pytest.mark.parametrize("coding", ["gzip, chunked", "identity", "compress"])
def test_an_unknown_transfer_coding_is_refused_by_nginx_with_501_as_rfc_9112_asks(stack, tally, coding):
    """The one 5xx a client can cause, and the one the HTTP spec asks for: a server that
    does not know a transfer coding answers 501 (RFC 9112, section 6.1). No worker sees it."""
    body, content_type = images.file_form(images.png())
    answer = raw_exchange(
        stack.http_port,
        upload_head(stack, content_type, [("Transfer-Encoding", coding)]) + chunked(body, 100),
        timeout=5,
    )
    assert answer.statuses[:1] == [501]
    assert "x-request-id" not in split_response(answer.data)[1]
    assert_nothing_left_behind(stack)


# --- huge headers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, status",
    [
        ([("X-Big", "a" * 7000)], 201),  # within nginx's 8 KiB buffers: it reaches the worker
        ([(f"X-H{i}", "v") for i in range(80)], 201),
        # Over the worker's 100 headers: its JSON 431 headers_too_large.
        ([(f"X-H{i}", "v") for i in range(120)], 431),
        # Over nginx's buffers: nginx's own 431, the same error as the worker's.
        ([("X-Big", "a" * 20_000)], 431),
        ([(f"X-H{i}", "b" * 7000) for i in range(6)], 431),
        ([("Cookie", "c=" + "d" * 30_000)], 431),
    ],
    ids=["7k-header", "80-headers", "120-headers", "20k-header", "six-7k-headers", "30k-cookie"],
)
def test_huge_headers_are_served_or_refused_cleanly_and_the_next_upload_works(stack, tally, headers, status):
    body, content_type = images.file_form(images.png(2, 2, extra=b"huge headers"))
    answer = raw_exchange(
        stack.http_port,
        upload_head(stack, content_type, [("Content-Length", str(len(body))), ("Connection", "close"), *headers])
        + body,
        timeout=10,
    )
    got, response_headers, first = split_response(answer.data)
    assert got == status, first[:300]
    if "x-request-id" in response_headers:
        assert got == 201 or is_json_error_body(response_headers["content-type"], first)
    assert stack.upload(images.png(2, 2, extra=b"after huge headers")).status == 201
    assert_nothing_left_behind(stack)
