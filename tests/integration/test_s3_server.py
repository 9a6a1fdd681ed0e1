"""The tests' S3 server (support/s3_server.py): a real gateway, a fresh bucket per test,
nothing left behind."""

from __future__ import annotations

import os
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError
from support.s3_server import Radosgw, missing_programs
from support.stack import require

pytestmark = pytest.mark.runs_once  # the tests' S3 server itself


def test_a_fresh_bucket_starts_empty_and_keeps_what_is_put(s3_bucket):
    endpoint, bucket = s3_bucket
    s3 = endpoint.client()
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.put_object(Bucket=bucket, Key="a/b.png", Body=b"bytes")
    assert s3.get_object(Bucket=bucket, Key="a/b.png")["Body"].read() == b"bytes"


def test_each_bucket_asked_for_is_new(s3_endpoint):
    first, second = s3_endpoint.new_bucket(), s3_endpoint.new_bucket()
    try:
        assert first != second
    finally:
        s3_endpoint.remove_bucket(first)
        s3_endpoint.remove_bucket(second)


def test_the_gateway_checks_signatures(s3_bucket):
    endpoint, bucket = s3_bucket
    with pytest.raises(ClientError) as refused:
        endpoint.client(secret_key="not-the-secret").put_object(Bucket=bucket, Key="x", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_an_unsigned_read_is_refused(s3_bucket):
    endpoint, bucket = s3_bucket
    endpoint.client().put_object(Bucket=bucket, Key="private.png", Body=b"x")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{endpoint.url}/{bucket}/private.png", timeout=10)
    assert refused.value.code == 403


def test_a_stopped_gateway_leaves_no_process_and_no_folder():
    require(not missing_programs(), "Ceph's S3 gateway is not installed (make test installs it)")
    if os.environ.get("S3_TEST_ENDPOINT_URL"):
        pytest.skip("the S3_TEST_* endpoint is used instead of a gateway of the tests' own")
    gateway = Radosgw().start()
    processes = list(gateway.processes.values())
    assert len(processes) == 3 and all(p.poll() is None for p in processes)
    gateway.stop()
    assert all(p.poll() is not None for p in processes)
    assert not gateway.folder.exists()
