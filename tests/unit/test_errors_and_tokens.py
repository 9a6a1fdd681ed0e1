"""The error contract's shape, size wording, tokens and link building."""

import pytest
from imagehost import auth, errors
from imagehost.web import Request, base_url


def test_every_contract_error_has_its_status_and_code():
    table = {
        errors.BadRequest: (400, "bad_request"),
        errors.MissingFile: (400, "missing_file"),
        errors.TooManyFiles: (400, "too_many_files"),
        errors.EmptyFile: (400, "empty_file"),
        errors.InvalidName: (400, "invalid_name"),
        errors.Unauthorized: (401, "unauthorized"),
        errors.Forbidden: (403, "forbidden"),
        errors.CrossOrigin: (403, "cross_origin"),
        errors.NotFound: (404, "not_found"),
        errors.UnsupportedType: (415, "unsupported_type"),
        errors.InsufficientStorage: (507, "insufficient_storage"),
        errors.Internal: (500, "internal"),
        errors.UriTooLong: (414, "uri_too_long"),
        errors.HeadersTooLarge: (431, "headers_too_large"),
        errors.Unimplemented: (501, "not_implemented"),
        errors.HttpVersionNotSupported: (505, "http_version_not_supported"),
        errors.RateLimited: (429, "rate_limited"),
        errors.BadGateway: (502, "bad_gateway"),
        errors.GatewayTimeout: (504, "gateway_timeout"),
    }
    for cls, (status, code) in table.items():
        error = cls()
        assert (error.status, error.code) == (status, code)
        assert error.to_body() == {"error": {"code": code, "message": error.message}}
        assert error.message.endswith(".")


def test_size_errors_say_the_limit_in_words():
    assert "at most 5 MiB (5242880 bytes)" in errors.FileTooLarge(5 * 1024 * 1024).message
    assert "50 megapixels" in errors.ImageTooLarge(10000, 10000, 50_000_000).message


def test_too_many_fields_says_the_limit():
    error = errors.TooManyFields(16)
    assert (error.status, error.code) == (400, "too_many_fields")
    assert "more than 16 parts" in error.message and "at most 15 other fields" in error.message


@pytest.mark.parametrize("n, words", [(5242880, "5 MiB"), (1536, "1.5 KiB"), (100, "100 bytes"), (3 << 30, "3 GiB")])
def test_sizes_are_described_for_people(n, words):
    assert errors.describe_size(n) == words


@pytest.mark.parametrize(
    "header, token",
    [(None, None), ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic dXNlcg==", ""), ("Bearer", "")],
)
def test_bearer_tokens_are_read_from_the_authorization_header(header, token):
    assert auth.bearer_token(header) == token


def test_delete_tokens_are_random_and_only_their_hash_matches():
    token = auth.new_delete_token()
    assert len(token) >= 32 and token != auth.new_delete_token()
    stored = auth.hash_token(token)
    assert token not in stored
    assert auth.matches_hash(token, stored) and not auth.matches_hash(token + "x", stored)
    assert not auth.matches_hash(token, None)


def test_the_admin_check_needs_a_configured_token():
    assert not auth.is_admin("", "")
    assert not auth.is_admin("anything", "")
    assert auth.is_admin("s3cret-admin-token", "s3cret-admin-token")


def request_with(**headers):
    return Request("GET", "/", "", headers, None, "rid")


@pytest.mark.parametrize(
    "headers, public, expected",
    [
        ({"Host": "img.example:8080"}, "", "http://img.example:8080"),
        ({"Host": "a", "X-Forwarded-Host": "b.example", "X-Forwarded-Proto": "https"}, "", "https://b.example"),
        ({"Host": "a", "X-Forwarded-Proto": "gopher"}, "", "http://a"),
        ({"Host": "bad host\r\nX: y"}, "", "http://127.0.0.1:8001"),
        ({"Host": "[::1]:8080"}, "", "http://[::1]:8080"),
        ({}, "", "http://127.0.0.1:8001"),
        ({"Host": "a"}, "https://img.example.com", "https://img.example.com"),
    ],
)
def test_links_are_absolute_and_never_carry_a_hostile_host(headers, public, expected):
    assert base_url(request_with(**headers), public, "127.0.0.1:8001") == expected
