"""Where the stack keeps its images and its index in the bench's other modes
(`--storage s3`, `--index postgres`, issue 14): Ceph's radosgw and a throwaway
PostgreSQL cluster, started by the tests' own starters (support.s3_server,
support.postgres), bound to 127.0.0.1, stopped and removed when the bench ends.

    with Stores.start(folder, storage="s3", index="postgres") as stores:
        start_stack(stack_dir, **stores.fresh_settings())   # a new bucket and database

Each stack gets a bucket and a database of its own, so every worker count starts from
an empty index, as a local stack starts from an empty folder. The bucket lets anyone
read the keys under PREFIX, as docs/s3.md asks: nginx fetches them unsigned.

Failures: StoresError, with the gateway's or the cluster's reason, when a server cannot
start here (missing_servers() says beforehand which are not installed); everything
started before is stopped.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from support.configuration import bucket_settings
from support.postgres import BIN_DIR, Cluster, ClusterError
from support.s3_server import GatewayError, Radosgw, S3Endpoint, let_anyone_read, missing_programs

STORAGES = ("local", "s3")
INDEXES = ("sqlite", "postgres")
PREFIX = "bench/"
# The OSD keeps objects in memory: room for one upload scenario's objects (the bench
# empties the bucket after each, see scenarios.remove_uploaded_images).
MEMSTORE_BYTES = 8 << 30
# nginx's disk cache in front of the bucket: larger than everything the GETs ask for.
CACHE_MAX_SIZE = "256m"


def missing_servers(storage: str, index: str) -> list[str]:
    """The servers `storage` and `index` need that are not installed, by name."""
    missing = []
    if storage == "s3" and missing_programs():
        missing.append(f"Ceph's S3 gateway ({', '.join(missing_programs())})")
    if index == "postgres" and not (BIN_DIR / "initdb").exists():
        missing.append(f"PostgreSQL 15 ({BIN_DIR / 'initdb'})")
    return missing


class StoresError(Exception):
    """A store could not start here; the message says which and why."""


@dataclass
class Stores:
    """The running servers of one bench run; None where the mode does not need one."""

    storage: str
    index: str
    gateway: Radosgw | None = None
    cluster: Cluster | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    @classmethod
    def start(cls, folder: Path, storage: str, index: str) -> Stores:
        """Start what `storage` and `index` need (nothing for local and sqlite)."""
        stores = cls(storage, index)
        try:
            if storage == "s3":
                stores.gateway = stores._stack.enter_context(
                    Radosgw(folder / "ceph", memstore_bytes=MEMSTORE_BYTES).start()
                )
            if index == "postgres":
                stores.cluster = stores._stack.enter_context(Cluster.start())
        except (GatewayError, ClusterError) as error:
            stores.stop()
            raise StoresError(str(error)) from error
        except BaseException:
            stores.stop()
            raise
        return stores

    @property
    def is_default(self) -> bool:
        return self.storage == "local" and self.index == "sqlite"

    def describe(self) -> str:
        """For the report's header."""
        images = "a local folder"
        if self.gateway:
            images = "an S3 bucket (Ceph radosgw, objects in memory) through nginx's cache"
        index = "PostgreSQL 15 (fsync off)" if self.cluster else "SQLite"
        return f"images in {images}; index in {index}"

    def fresh_settings(self) -> dict[str, str]:
        """The stack's settings for a new empty bucket and database (none in local and sqlite mode)."""
        settings = {}
        if self.gateway is not None:
            endpoint = self.gateway.endpoint
            bucket = endpoint.new_bucket()
            let_anyone_read(endpoint, bucket, PREFIX)
            settings.update(bucket_settings(endpoint, bucket, PREFIX), S3_CACHE_MAX_SIZE=CACHE_MAX_SIZE)
        if self.cluster is not None:
            settings["DATABASE_URL"] = self.cluster.new_database()
        return settings

    def stop(self) -> None:
        """Stop every server started and remove its files. Safe to call twice."""
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def endpoint_of(env: dict[str, str]) -> S3Endpoint:
    """The bucket's endpoint and credentials as a stack's settings give them."""
    return S3Endpoint(env["S3_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["S3_REGION"])


def empty_bucket(env: dict[str, str]) -> int:
    """Delete every object under the stack's key prefix; returns how many there were."""
    s3 = endpoint_of(env).client()
    removed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=env["S3_BUCKET"], Prefix=env["S3_KEY_PREFIX"]):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=env["S3_BUCKET"], Delete={"Objects": keys, "Quiet": True})
            removed += len(keys)
    return removed
