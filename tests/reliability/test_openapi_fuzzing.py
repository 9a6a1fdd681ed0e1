"""docs/openapi.yaml against the running stack: schemathesis sends requests generated from
the document (valid and invalid ones) through nginx, and every answer must be one the
document describes (status, content type, headers, body schema) and never a 5xx. The
document is also checked against the code: every route, every error code, every nginx
error page.

Two of schemathesis' default checks are left out, for reasons of the API rather than of
the document: `positive_data_acceptance` (a schema cannot say "a PNG by its magic
bytes", so most schema-valid uploads are rightly refused with 415) and
`unsupported_method` (nginx itself answers TRACE with a JSON 405 without `Allow`; the
methods that reach a worker are checked by the method test below).
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess

import jsonschema_rs
import pytest
import schemathesis
from imagehost import errors
from imagehost.routes import ROUTES
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    positive_data_acceptance,
    unsupported_method,
)
from support import images
from support.backend import REPO, free_port_block
from support.client import bearer
from support.stack import RENDER

from .harness import examples, size

FIGURE_CLASS = "OpenAPI fuzzing (schemathesis)"
DOCUMENT = REPO / "docs" / "openapi.yaml"
# schemathesis sends image parts it has a sample for (PNG, JPEG, GIF, WebP) and refuses
# to build a request for a media type it cannot serialize, such as image/avif: sent as
# plain bytes, the server judges them by their content like any other upload.
schemathesis.serializer.alias("image/avif", "application/octet-stream")
schema = schemathesis.openapi.from_path(DOCUMENT)
EXCLUDED_CHECKS = [positive_data_acceptance, unsupported_method]
# nginx serves these itself; every other documented operation is a backend route.
NGINX_ONLY = {("GET", "/images/{name}"), ("GET", "/i/{name}"), ("GET", "/a/{album_id}")}


def raw_document() -> dict:
    return schema.raw_schema


def validator_for(component: str) -> jsonschema_rs.Validator:
    """A validator for '#/components/schemas/<component>' of the document."""
    document = raw_document()
    return jsonschema_rs.validator_for(
        {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    )


def call(case, stack, tally, headers: dict | None = None, also_excluded: tuple = ()):
    tally.case()
    return case.call_and_validate(
        base_url=stack.base_url, headers=headers, excluded_checks=EXCLUDED_CHECKS + list(also_excluded)
    )


# --- the document and the code ------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1():
    assert raw_document()["openapi"].startswith("3.1")
    schema.validate()


def test_the_document_describes_every_backend_route_and_nothing_else():
    documented = {
        (method.upper(), path)
        for path, item in raw_document()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert documented - NGINX_ONLY == {(route.method, route.pattern) for route in ROUTES}


def test_the_document_lists_every_error_code_the_backend_and_nginx_can_answer():
    backend_codes = {
        cls.code for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, errors.AppError)
    }
    template = (REPO / "services" / "nginx" / "templates" / "imagehost.conf.template").read_text()
    nginx_codes = set(re.findall(r'"code": "(\w+)"', template))
    documented = set(
        raw_document()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    )
    assert nginx_codes and backend_codes
    assert documented == backend_codes | nginx_codes


def test_every_nginx_error_page_matches_the_schema_the_document_gives_its_status(tmp_path):
    port = free_port_block(2)
    subprocess.run(
        ["sh", str(RENDER), "--local", str(tmp_path / "run")],
        check=True,
        capture_output=True,
        env={
            "PATH": "/usr/bin:/bin",
            "HTTP_PORT": str(port),
            "WEB_SERVER_START_PORT": str(port + 1),
            "IMAGES_DIR": str(tmp_path / "images"),
            "LOG_DIR": str(tmp_path / "logs"),
        },
    )
    config = (tmp_path / "run" / "imagehost.conf").read_text()
    responses = raw_document()["components"]["responses"]
    # nginx's error status -> the response the document gives the status nginx sends for it.
    documented = {
        "400": "NginxBadRequest",
        "403": "NotFound",
        "404": "NotFound",
        "405": "MethodNotAllowed",
        "413": "FileTooLarge",
        "414": "UriTooLong",
        "429": "RateLimited",
        "494": "HeadersTooLarge",
        "501": "NotImplemented",
        "502": "BadGateway",
        "503": "Unavailable",
        "504": "GatewayTimeout",
        "505": "HttpVersionNotSupported",
    }
    # nginx sends the status after `=` (494 =431), or else its own.
    pages = {
        status: (sent or status, target)
        for statuses, sent, target in re.findall(
            r"^\s*error_page ([\d ]+?) (?:=(\d+) )?([@/]\w+(?:/\w+)*);", config, re.MULTILINE
        )
        for status in statuses.split()
    }
    assert set(pages) == set(documented)
    for status, (sent, target) in pages.items():
        prefix = "location " if target.startswith("@") else "location = "
        location = re.search(rf"{prefix}{target} \{{(.*?)\n    \}}", config, re.DOTALL).group(1)
        body = re.search(rf"return {sent} '(.*)';", location).group(1).replace("\\n", "\n")
        component = responses[documented[status]]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
        validator_for(component).validate(json.loads(body))
        for header, spec in responses[documented[status]].get("headers", {}).items():
            if spec.get("required"):
                assert re.search(rf'add_header {header} "[^"]+" always;', location), (status, header)


# --- generated requests -------------------------------------------------------------------


@schema.parametrize()
@examples(ci=25, full=300)
def test_generated_requests_without_a_token_get_documented_answers_and_never_a_5xx(case, stack, tally):
    call(case, stack, tally)


@schema.parametrize()
@examples(ci=25, full=300)
def test_generated_requests_with_the_admin_token_get_documented_answers_and_never_a_5xx(case, stack, tally):
    call(case, stack, tally, stack.admin())


# --- real images, which a schema cannot generate ------------------------------------------


@pytest.mark.parametrize("data", [images.png(7, 5), images.jpeg(9, 4), images.gif(3, 8)], ids=["png", "jpeg", "gif"])
def test_a_real_upload_its_file_metadata_listing_and_delete_match_the_document(stack, tally, data):
    upload = schema["/upload"]["POST"].Case(media_type="multipart/form-data", body={"file": data})
    created = call(upload, stack, tally).json()
    name, token = created["name"], created["delete_token"]

    served = call(schema["/images/{name}"]["GET"].Case(path_parameters={"name": name}), stack, tally)
    assert served.content == data
    for headers in (bearer(token), stack.admin()):
        call(schema["/api/images/{name}"]["GET"].Case(path_parameters={"name": name}), stack, tally, headers)
    for path in ("/api/images", "/images"):
        listing = call(schema[path]["GET"].Case(query={"limit": 200}), stack, tally, stack.admin()).json()
        assert name in [item["name"] for item in listing["items"]]
    # ignored_auth re-sends the DELETE with a bad token and expects 401/403; the image is
    # gone by then, and an unknown name is 404 whatever the token.
    deleted = call(
        schema["/api/images/{name}"]["DELETE"].Case(path_parameters={"name": name}),
        stack,
        tally,
        bearer(token),
        also_excluded=(ignored_auth,),
    )
    assert deleted.status_code == 204
    gone = call(schema["/api/images/{name}"]["GET"].Case(path_parameters={"name": name}), stack, tally, stack.admin())
    assert gone.status_code == 404


def test_an_image_labelled_changed_shown_in_its_page_and_in_an_album_matches_the_document(stack, tally):
    upload = schema["/upload"]["POST"].Case(
        media_type="multipart/form-data",
        body={"file": images.png(3, 3, extra=b"labelled"), "title": "Cat <b>", "tags": ["cat, Black Cat"]},
    )
    created = call(upload, stack, tally).json()
    name, token = created["name"], created["delete_token"]
    assert created["tags"] == ["cat", "black-cat"]

    change = schema["/api/images/{name}"]["PATCH"].Case(
        path_parameters={"name": name}, media_type="application/json", body={"description": "on a mat", "tags": ["mat"]}
    )
    assert call(change, stack, tally, bearer(token)).json()["tags"] == ["mat"]
    listing = schema["/api/images"]["GET"].Case(
        query={"q": "mat", "tag": ["mat"], "type": "png", "since": "2000-01-01"}
    )
    assert name in [item["name"] for item in call(listing, stack, tally, stack.admin()).json()["items"]]
    for path in ("/api/public/images/{name}", "/api/cards/i/{name}", "/i/{name}"):
        call(schema[path]["GET"].Case(path_parameters={"name": name}), stack, tally)

    make = schema["/api/albums"]["POST"].Case(
        media_type="application/json", body={"title": "Cats", "images": [{"name": name, "delete_token": token}]}
    )
    album = call(make, stack, tally).json()
    album_id, album_token = album["id"], album["album_token"]
    for path in ("/api/albums/{album_id}", "/api/cards/a/{album_id}", "/a/{album_id}"):
        call(schema[path]["GET"].Case(path_parameters={"album_id": album_id}), stack, tally)
    rename = schema["/api/albums/{album_id}"]["PATCH"].Case(
        path_parameters={"album_id": album_id}, media_type="application/json", body={"title": "Cats!"}
    )
    assert call(rename, stack, tally, bearer(album_token)).json()["title"] == "Cats!"
    call(schema["/api/stats"]["GET"].Case(), stack, tally, stack.admin())
    # ignored_auth re-sends it with a bad token once the album is gone (404 then).
    removed = schema["/api/albums/{album_id}"]["DELETE"].Case(
        path_parameters={"album_id": album_id}, query={"with_images": "true"}
    )
    assert call(removed, stack, tally, bearer(album_token), also_excluded=(ignored_auth,)).status_code == 204
    stack.assert_not_served(f"/images/{name}")


def test_pages_of_the_listing_match_the_document_to_the_last_one(stack, tally):
    for i in range(size(7, 30)):
        assert stack.upload(images.png(2, 2, extra=f"page {i}".encode())).status == 201
    operation = schema["/api/images"]["GET"]
    cursor, pages = None, 0
    while True:
        query = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = call(operation.Case(query=query), stack, tally, stack.admin()).json()
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages >= 3


def test_an_oversized_body_refused_by_nginx_matches_the_document(stack, tally):
    upload = schema["/upload"]["POST"].Case(media_type="multipart/form-data", body={"file": b"\0" * 6_000_000})
    assert call(upload, stack, tally).status_code == 413


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("PUT", "/upload", "POST"),
        ("GET", "/upload", "POST"),
        ("PATCH", "/api/images", "GET, HEAD"),
        ("POST", "/api/images/AbCdEfGhIjKlMnOp.png", "DELETE, GET, HEAD, PATCH"),
        ("PUT", "/api/albums/AbCdEfGhIjKlMnOp", "DELETE, GET, HEAD, PATCH"),
        ("GET", "/api/albums", "POST"),
        ("OPTIONS", "/api/limits", "GET, HEAD"),
        ("DELETE", "/api/health", "GET, HEAD"),
    ],
)
def test_a_method_a_route_does_not_take_is_a_json_405_with_allow_through_nginx(stack, tally, method, path, allow):
    tally.case()
    reply = stack.request(method, path, body=b"" if method in ("POST", "PUT", "PATCH") else None)
    assert reply.status == 405 and reply.error_code == "method_not_allowed"
    assert reply.headers["Allow"] == allow
