"""Which uploads count as sent from another site's page: the origin comparison and the
check that runs before an upload body is read (no socket, no stack)."""

import pytest
from imagehost import handlers
from imagehost.config import load_config
from imagehost.errors import CrossOrigin
from imagehost.web import Request, origin_of


@pytest.mark.parametrize(
    "url, origin",
    [
        ("http://img.example", "http://img.example"),
        ("HTTP://IMG.Example", "http://img.example"),
        ("https://img.example/", "https://img.example"),
        ("https://img.example:443", "https://img.example"),
        ("http://img.example:80/", "http://img.example"),
        ("https://img.example:80", "https://img.example:80"),
        ("http://img.example:443", "http://img.example:443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:08080", "http://127.0.0.1:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://img.example/gallery/", "https://img.example"),
        ("null", None),
        ("", None),
        ("ftp://img.example", None),
        ("file:///etc/passwd", None),
        ("http://img.example:65536", None),
        ("http://img.example:0", None),
        ("http://user@img.example", None),
        ("http://img.example.evil.example\r\n", "http://img.example.evil.example"),
        ("//img.example", None),
    ],
)
def test_origin_of_a_url_has_one_spelling(url, origin):
    assert origin_of(url) == origin


def app_with(**settings) -> handlers.App:
    return handlers.App(load_config(environ=settings, env_file=None), index=None, worker_id=0)


def upload_request(**headers) -> Request:
    headers = {
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Host": "img.example:8080",
        **{name.replace("_", "-"): value for name, value in headers.items()},
    }
    return Request("POST", "/upload", "", headers, None, "rid")


def refuse_cross_site(request, app) -> None:
    handlers._refuse_cross_site(request, app, handlers.request_base(request, app))


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, scripts
        {"Origin": "http://img.example:8080"},  # this site's own page
        {"Origin": "HTTP://Img.Example:8080/"},
        {"Origin": "https://other.example", "Authorization": "Bearer some-token"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": "https://friend.example"},  # in ALLOWED_ORIGINS
    ],
)
def test_uploads_that_are_not_from_another_site_pass(headers):
    app = app_with(ALLOWED_ORIGINS="https://friend.example")
    refuse_cross_site(upload_request(**headers), app)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "https://img.example:8080"},  # https, not http
        {"Origin": "http://img.example"},  # port 80, not 8080
        {"Origin": "http://img.example:8080.evil.example"},
        {"Origin": "https://evil.example", "Authorization": "Basic dXNlcjpwYXNz"},
        {"Origin": "https://evil.example", "Authorization": "Bearer "},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://friend.example.evil.example"},
    ],
)
def test_uploads_from_another_site_are_refused(headers):
    app = app_with(ALLOWED_ORIGINS="https://friend.example")
    with pytest.raises(CrossOrigin):
        refuse_cross_site(upload_request(**headers), app)


def test_this_site_is_public_base_url_when_it_is_set():
    app = app_with(PUBLIC_BASE_URL="https://img.example/pictures")
    refuse_cross_site(upload_request(Origin="https://img.example"), app)
    with pytest.raises(CrossOrigin):
        refuse_cross_site(upload_request(Origin="http://img.example:8080"), app)


def test_the_refusal_is_a_403_that_says_what_to_do():
    error = CrossOrigin()
    assert (error.status, error.code) == (403, "cross_origin")
    assert "ALLOWED_ORIGINS" in error.message and "Authorization: Bearer" in error.message
