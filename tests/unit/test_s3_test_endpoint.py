"""Which S3 endpoint the S3 tests use: the S3_TEST_* variables (docs/s3.md), else their own."""

from __future__ import annotations

import pytest
from support.s3_server import S3Endpoint, endpoint_from_environment

KEYS = {"S3_TEST_ACCESS_KEY": "AK", "S3_TEST_SECRET_KEY": "SK"}


def test_without_an_endpoint_url_the_tests_start_their_own_gateway():
    assert endpoint_from_environment({**KEYS}) is None


def test_an_endpoint_url_with_keys_is_used_path_style_in_us_east_1():
    found = endpoint_from_environment({"S3_TEST_ENDPOINT_URL": "https://s3.example.test", **KEYS})
    assert found == S3Endpoint("https://s3.example.test", "AK", "SK", "us-east-1", "path")


def test_region_and_virtual_host_addressing_are_taken_from_the_environment():
    env = {"S3_TEST_ENDPOINT_URL": "https://e", "S3_TEST_REGION": "auto", "S3_TEST_ADDRESSING": "virtual", **KEYS}
    found = endpoint_from_environment(env)
    assert found is not None and (found.region, found.addressing) == ("auto", "virtual")


@pytest.mark.parametrize(
    "env, named",
    [
        ({"S3_TEST_ENDPOINT_URL": "https://e"}, "S3_TEST_ACCESS_KEY and S3_TEST_SECRET_KEY"),
        ({"S3_TEST_ENDPOINT_URL": "https://e", "S3_TEST_ACCESS_KEY": "AK"}, "S3_TEST_SECRET_KEY"),
        ({"S3_TEST_ENDPOINT_URL": "https://e", "S3_TEST_ADDRESSING": "dns", **KEYS}, "S3_TEST_ADDRESSING"),
    ],
)
def test_an_incomplete_endpoint_is_refused_naming_the_variable(env, named):
    with pytest.raises(ValueError, match=named):
        endpoint_from_environment(env)
