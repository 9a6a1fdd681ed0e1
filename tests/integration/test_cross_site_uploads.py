"""Uploads sent by a browser from another site's page are refused, through the real nginx:
what a hostile page's form POST or no-cors fetch looks like on the wire is an `Origin`
header naming that page's site (or `null`)."""

from __future__ import annotations

import pytest
from support import images
from support.images import file_form
from support.stack import nginx_binary, require, start_stack

FRIEND = "https://friend.example"
UPLOAD_TOKEN = "cross-site-upload-token-0123"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require(nginx_binary() is not None, "nginx is not installed (make test installs it)")
    with start_stack(tmp_path_factory.mktemp("stack"), ALLOWED_ORIGINS=f"{FRIEND}, https://other.example") as running:
        yield running


def upload_with(stack, token: str | None = None, **headers: str):
    body, content_type = file_form(images.png(3, 2, extra=repr(headers).encode()))
    headers = {name.replace("_", "-"): value for name, value in headers.items()}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return stack.request("POST", "/upload", body, {"Content-Type": content_type, **headers})


def stored_names(stack) -> set[str]:
    return stack.stored_names()


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1"])
def test_an_upload_from_another_sites_page_is_a_json_403_and_stores_nothing(stack, origin):
    before = stored_names(stack)
    reply = upload_with(stack, Origin=origin)
    assert reply.status == 403, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.error_code == "cross_origin"
    assert "ALLOWED_ORIGINS" in reply.json()["error"]["message"]
    assert stored_names(stack) == before
    assert list((stack.images_dir / ".tmp").iterdir()) == []


def test_an_upload_marked_cross_site_without_origin_is_refused(stack):
    assert upload_with(stack, Sec_Fetch_Site="cross-site").error_code == "cross_origin"


def test_an_upload_from_this_sites_own_page_is_stored(stack):
    reply = upload_with(stack, Origin=stack.base_url, Sec_Fetch_Site="same-origin")
    assert reply.status == 201, reply.body
    assert reply.json()["name"] in stored_names(stack)


def test_an_upload_from_an_allowed_origin_is_stored(stack):
    assert upload_with(stack, Origin=FRIEND).status == 201


def test_an_upload_without_origin_as_curl_sends_it_is_stored(stack):
    assert stack.upload(images.png(2, 2, extra=b"curl")).status == 201


def test_a_bearer_token_upload_from_another_origin_is_stored(stack_factory):
    stack = stack_factory(UPLOAD_TOKEN=UPLOAD_TOKEN)
    reply = upload_with(stack, token=UPLOAD_TOKEN, Origin="https://evil.example")
    assert reply.status == 201, reply.body
