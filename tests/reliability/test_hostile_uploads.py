"""Property-based uploads through nginx: random multipart bodies, boundaries, part headers,
file names, declared types and declared lengths. Whatever is sent, the answer is never a
5xx; a refusal is the JSON error shape and leaves no file, temp file or index row; an
acceptance stores exactly the bytes of a file part (without its metadata: harness.as_stored),
under a safe display name.
"""

from __future__ import annotations

import json
import string
import time
import unicodedata
import uuid
from dataclasses import dataclass
from urllib.parse import quote

from hypothesis import event, given, note
from hypothesis import strategies as st
from imagehost.validation import ACCEPTED_TYPES
from support import images
from support.client import bearer, request

from .harness import (
    as_stored,
    examples,
    image_files,
    index_rows,
    is_json_error_body,
    raw_exchange,
    request_head,
    split_response,
    temp_files,
    wait_until,
)

FIGURE_CLASS = "hostile uploads (hypothesis)"
REFUSALS = {400, 413, 415, 422}

# --- what goes into a part ----------------------------------------------------------------

MAGIC = [prefix for image_type in ACCEPTED_TYPES for prefix in image_type.magic]
valid_images = st.one_of(
    st.builds(images.png, st.integers(1, 40), st.integers(1, 40), extra=st.binary(max_size=64)),
    st.builds(images.gif, st.integers(1, 4000), st.integers(1, 4000), version=st.sampled_from([b"87a", b"89a"])),
    st.builds(images.jpeg, st.integers(1, 4000), st.integers(1, 4000), app_segments=st.integers(1, 4)),
    st.builds(images.vp8l, st.integers(1, 4000), st.integers(1, 4000)).map(images.webp),
    st.builds(images.ispe, st.integers(1, 4000), st.integers(1, 4000)).map(images.avif),
)
contents = st.one_of(
    valid_images,
    valid_images,
    st.binary(max_size=300),
    st.just(b""),
    st.tuples(valid_images, st.integers(0, 40)).map(lambda t: t[0][: t[1]]),  # truncated header
    st.tuples(st.sampled_from(MAGIC), st.binary(max_size=40)).map(b"".join),  # magic, then anything
    st.tuples(valid_images, st.sampled_from([b"\r\n--", b"\r\n\r\n", b"--\r\n"])).map(b"".join),  # boundary-ish tails
)

HOSTILE_FILENAMES = [
    "../../etc/passwd",
    "..\\..\\boot.ini",
    "/etc/shadow",
    "C:\\Users\\me\\cat.png",
    ".htaccess",
    ".",
    "..",
    "",
    " ",
    "index.sqlite3",
    "../data/index.sqlite3",
    "a\x00b.png",
    "cat.png\x00.html",
    "a\r\nContent-Type: text/html\r\n\r\n<script>alert(1)</script>.png",
    "\u202egnp.exe",
    "%2e%2e%2fx.png",
    'a"b.png',
    "a;b=c.png",
    "CON",
    "nul.png",
    "x" * 10_000 + ".png",
    "é" * 10_000,
    "\U0001f600" * 5_000,
    "\u0301\u0301combining.png",
    "\ufeffbom.png",
    "tab\tname.png",
]
filenames = st.one_of(
    st.sampled_from(HOSTILE_FILENAMES),
    st.text(max_size=200),
    # long names cheaply: one character repeated up to 10,000 times, with an extension
    st.builds(
        lambda c, n, ext: c * n + ext,
        st.characters(exclude_categories=("Cs",)),
        st.integers(1, 10_000),
        st.sampled_from(["", ".png", ".jpg.exe", "/", ".."]),
    ),
)
header_text = st.text(st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=60)
declared_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "image/png",
            "image/jpeg",
            "image/gif",
            "text/html",
            "image/svg+xml",
            "application/octet-stream",
            "image/png; charset=utf-8",
            "",
            "multipart/form-data; boundary=x",
            "image/*",
        ]
    ),
    header_text,
)


def browser_escape(name: str) -> bytes:
    """What browsers send: UTF-8 with ", CR and LF percent-escaped (WHATWG multipart/form-data)."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode("utf-8", "surrogatepass")


@dataclass
class Part:
    headers: list[tuple[bytes, bytes]]
    content: bytes


@st.composite
def parts(draw) -> Part:
    field = draw(st.sampled_from(["file"] * 12 + ["image", "", "FILE", "file[]"]) | header_text)
    filename = draw(filenames if draw(st.integers(0, 5)) else st.none())
    how = draw(st.sampled_from(["browser", "browser", "raw", "rfc5987", "unquoted"]))
    disposition = b'form-data; name="' + field.encode("utf-8", "surrogatepass") + b'"'
    if filename is not None:
        if how == "browser":
            disposition += b'; filename="' + browser_escape(filename) + b'"'
        elif how == "raw":
            disposition += b'; filename="' + filename.encode("utf-8", "surrogatepass") + b'"'
        elif how == "rfc5987":
            disposition += b"; filename*=UTF-8''" + quote(filename, safe="").encode()
        else:
            disposition += b"; filename=" + filename.encode("utf-8", "surrogatepass")
    headers = []
    if draw(st.integers(0, 19)):  # one part in twenty has no Content-Disposition at all
        name = draw(
            st.sampled_from(
                [b"Content-Disposition", b"content-disposition", b"CONTENT-DISPOSITION", b"Content-Disposition "]
            )
        )
        headers.append((name, disposition))
    declared = draw(declared_types)
    if declared is not None:
        headers.append((b"Content-Type", declared.encode("latin-1")))
    extra_names = st.sampled_from([b"X-Extra", b"Content-Transfer-Encoding", b"Content-Length", b""])
    headers += [
        (draw(extra_names), draw(header_text).encode("latin-1")) for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2])))
    ]
    if draw(st.integers(0, 19)) == 0:  # a part header past the backend's 64 KiB limit
        headers.append((b"X-Huge", b"h" * 70_000))
    return Part(list(draw(st.permutations(headers))), draw(contents))


BOUNDARY_CHARS = string.ascii_letters + string.digits + "'()+_,-./:=?"
boundaries = st.one_of(
    st.text(BOUNDARY_CHARS, min_size=1, max_size=70),  # what RFC 2046 allows
    st.text(BOUNDARY_CHARS + " ", min_size=0, max_size=100),  # empty, too long, a trailing space
    header_text,  # anything a header can carry
)


@dataclass
class Form:
    body: bytes
    content_type: bytes | None
    parts: list[Part]


@st.composite
def forms(draw) -> Form:
    """A multipart body and its Content-Type. One in three gets a hostile envelope (odd
    boundary, newlines, closing, Content-Type, truncation); the rest a proper one, so
    the parts inside reach the backend's validation too."""
    hostile = draw(st.integers(0, 2)) == 0
    legal = st.text(BOUNDARY_CHARS, min_size=1, max_size=70)
    boundary = draw(boundaries if hostile else legal).encode("latin-1")
    chosen = draw(st.lists(parts(), min_size=0 if hostile else 1, max_size=3))
    newline = draw(st.sampled_from([b"\r\n", b"\n"])) if hostile else b"\r\n"
    body = draw(st.sampled_from([b"", b"a preamble\r\n"]) | st.binary(max_size=16)) if hostile else b""
    for part in chosen:
        body += b"--" + boundary + newline
        body += b"".join(name + b": " + value + newline for name, value in part.headers)
        body += newline + part.content + newline
    closing = draw(st.sampled_from(["proper", "no newline", "missing", "other"])) if hostile else "proper"
    body += {
        "proper": b"--" + boundary + b"--" + newline,
        "no newline": b"--" + boundary + b"--",
        "missing": b"",
        "other": b"--X" + boundary + b"--\r\n",
    }[closing]
    if hostile and draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    quoted = b'"' + boundary + b'"'
    content_type = b"multipart/form-data; boundary=" + boundary
    if hostile:
        content_type = draw(
            st.sampled_from(
                [
                    content_type,
                    b"multipart/form-data; boundary=" + quoted,
                    b"Multipart/Form-Data; BOUNDARY=" + quoted + b"; charset=utf-8",
                    b"multipart/form-data; boundary=other" + boundary,
                    b"multipart/form-data",
                    b"multipart/mixed; boundary=" + boundary,
                    b"multipart/form-data; boundary=" + boundary + b"; boundary=second",
                    b"application/x-www-form-urlencoded",
                    b"image/png",
                    b"",
                ]
            )
            | st.none()
        )
    return Form(body, content_type, chosen)


# --- what must hold after any upload ------------------------------------------------------


def state(stack) -> tuple[set[str], int]:
    return image_files(stack), len(index_rows(stack))


def check_answer(stack, status: int, content_type: str, body: bytes, form: Form, before) -> None:
    """The properties every answer to an upload must have; an accepted image is deleted again."""
    note(f"{status} {body[:300]!r}")
    event(f"status {status}")
    assert status < 500
    if status == 201:
        created = json.loads(body)
        stored = stack.stored_bytes(created["name"])
        assert stored in [as_stored(part.content) for part in form.parts]
        assert request("GET", f"{stack.base_url}/images/{created['name']}").body == stored
        assert_safe_display_name(created["original_name"])
        token = created["delete_token"]
        assert request("DELETE", f"{stack.base_url}/api/images/{created['name']}", headers=bearer(token)).status == 204
    else:
        assert status in REFUSALS, status
        assert is_json_error_body(content_type, body), body[:300]
    assert state(stack) == before
    assert temp_files(stack) == []


def assert_safe_display_name(name: str) -> None:
    assert len(name) <= 255
    assert "/" not in name and "\\" not in name
    assert not any(unicodedata.category(ch)[0] == "C" for ch in name), name
    assert name == name.strip(" .")


# --- the properties -----------------------------------------------------------------------


@given(form=forms())
@examples(ci=60, full=1500)
def test_any_multipart_body_gets_a_non_5xx_answer_and_a_refusal_leaves_nothing_behind(stack, tally, form):
    tally.case()
    before = state(stack)
    headers = {} if form.content_type is None else {"Content-Type": form.content_type}
    reply = request("POST", stack.base_url + "/upload", form.body, headers)
    check_answer(stack, reply.status, reply.headers.get("Content-Type", ""), reply.body, form, before)


@given(filename=filenames, data=valid_images, declared=declared_types)
@examples(ci=40, full=800)
def test_any_file_name_escaped_as_browsers_do_is_accepted_and_shown_only_in_a_safe_form(
    stack, tally, filename, data, declared
):
    tally.case()
    headers = [(b"Content-Disposition", b'form-data; name="file"; filename="' + browser_escape(filename) + b'"')]
    if declared is not None:
        headers.append((b"Content-Type", declared.encode("latin-1")))
    form = Form(b"", None, [Part(headers, data)])
    body = (
        b"--B0undary\r\n"
        + b"".join(n + b": " + v + b"\r\n" for n, v in headers)
        + b"\r\n"
        + data
        + b"\r\n--B0undary--\r\n"
    )
    before = state(stack)
    reply = request(
        "POST", stack.base_url + "/upload", body, {"Content-Type": "multipart/form-data; boundary=B0undary"}
    )
    assert reply.status == 201, reply.body[:300]
    check_answer(stack, reply.status, reply.headers.get("Content-Type", ""), reply.body, form, before)


@given(form=forms(), data=st.data(), half_close=st.booleans())
@examples(ci=25, full=250)
def test_a_declared_length_that_lies_gets_a_non_5xx_answer_or_none_and_leaves_nothing_behind(
    stack, tally, form, data, half_close
):
    """Content-Length off by `delta`: less means the rest is read as a next request (nginx
    answers it 400); more means the client stops short, then half-closes or waits."""
    delta = data.draw(st.integers(-len(form.body), 400).filter(bool), label="delta")
    tally.case()
    before = state(stack)
    headers = [("Host", "localhost"), ("Content-Length", str(len(form.body) + delta))]
    if form.content_type is not None:
        headers.append(("Content-Type", form.content_type))
    probe = uuid.uuid4().hex  # finds this request's line in nginx's access log
    answer = raw_exchange(
        stack.http_port,
        request_head("POST", f"/upload?probe={probe}", headers) + form.body,
        shut_write=half_close,
        timeout=0.3 if delta > 0 and not half_close else 5,
    )
    note(f"{answer.statuses} {answer.data[:300]!r}")
    event(f"first answer {answer.statuses[:1]}")
    assert all(status < 500 for status in answer.statuses)
    if answer.statuses:
        status, response_headers, body = split_response(answer.data)
        if "x-request-id" in response_headers:  # a worker answered
            check_answer(stack, status, response_headers.get("content-type", ""), body, form, before)
        else:  # nginx refused the request itself (a framing error): JSON, nothing forwarded
            assert status in (400, 408, 413), status
            if status != 408:
                assert response_headers.get("content-type", "").startswith("application/json"), response_headers
    else:
        settle_abandoned(stack, form, before, probe)
    assert state(stack) == before
    assert temp_files(stack) == []


def settle_abandoned(stack, form: Form, before, probe: str) -> None:
    """A client that hung up without reading the answer: nginx and a worker may still be
    busy with its request. Wait until nginx has logged it (so the worker's connection is
    closed) and the worker has cleaned up; an upload it completed anyway must be whole
    (the bytes of a file part, with its row). It is then deleted, so the next example
    starts clean."""
    wait_until(lambda: probe in stack.access_log(), timeout=10, message="nginx logged the abandoned request")
    for _ in range(3):  # empty, and staying empty
        wait_until(lambda: not temp_files(stack), timeout=10, message="temp files of an abandoned request removed")
        time.sleep(0.05)
    new_files = image_files(stack) - before[0]
    rows = index_rows(stack)
    for name in new_files:
        event("an abandoned, complete upload was kept")
        assert stack.stored_bytes(name) in [as_stored(part.content) for part in form.parts]
        assert name in rows
        assert request("DELETE", f"{stack.base_url}/api/images/{name}", headers=stack.admin()).status == 204
