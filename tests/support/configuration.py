"""Which storage and index the tests' stacks and backends use: IMAGEHOST_TEST_CONFIG.

    IMAGEHOST_TEST_CONFIG=local-sqlite     images in IMAGES_DIR, the index in DATA_DIR (default)
    IMAGEHOST_TEST_CONFIG=local-postgres   images in IMAGES_DIR, the index in PostgreSQL
    IMAGEHOST_TEST_CONFIG=s3-postgres      images in an S3 bucket, the index in PostgreSQL

This module is the only reader of the variable. `support.stack.start_stack` and
`support.backend.Backend` ask `provision(folder, settings)` for the settings that put a new
instance on the chosen configuration: a fresh database of the session's throwaway
PostgreSQL cluster (DATABASE_URL), a fresh bucket that anyone may read (STORAGE=s3 and
the S3_*/AWS_* settings) on the session's radosgw, or on the endpoint the S3_TEST_*
variables name (docs/s3.md). A setting the test gives itself wins: with DATABASE_URL or
STORAGE among them (even as None, "leave unset"), that half is not provisioned.
Another instance in the same folder (a restart) gets the same ones; to start one
elsewhere on an instance's state, pass it `instance.state_settings()`. They are dropped
when the pytest scope that made them ends (the test, or the module for a module's
stack: tests/conftest.py), after the instances are stopped, and at the latest when the
session ends (`ENGINES.stop()`).

`StoredState(env)` reads an instance's images and index wherever its settings put them,
so a test's assertion about what is stored runs the same in every configuration.

Tests that are about the local folder or SQLite themselves carry a marker
(`local_storage`, `sqlite_index`; tests/conftest.py declares them) and are deselected in
the configurations without that engine; `runs_once` marks tests that do not depend on
the configuration (they start no app, or choose their engines themselves), which run in
the default configuration only, as do the unit tests.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from imagehost.instance_lock import IMAGES_LOCK_NAME
from imagehost.previews import FOLDER as PREVIEWS

from .postgres import Cluster, ClusterError
from .s3_server import GatewayError, Radosgw, S3Endpoint, endpoint_from_environment, let_anyone_read, missing_programs

VARIABLE = "IMAGEHOST_TEST_CONFIG"
DEFAULT = "local-sqlite"


@dataclass(frozen=True)
class Configuration:
    name: str
    storage: str  # "local" or "s3"
    index: str  # "sqlite" or "postgresql"

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT


CONFIGURATIONS = {
    "local-sqlite": Configuration("local-sqlite", "local", "sqlite"),
    "local-postgres": Configuration("local-postgres", "local", "postgresql"),
    "s3-postgres": Configuration("s3-postgres", "s3", "postgresql"),
}

# Markers of the tests that need one engine, and which half of a configuration must be it.
ENGINE_MARKERS = {
    "local_storage": ("storage", "local", "about the local images folder itself"),
    "sqlite_index": ("index", "sqlite", "about the SQLite index file itself"),
}
RUNS_ONCE = "runs_once"


def chosen(environ: Mapping[str, str] | None = None) -> Configuration:
    """The configuration IMAGEHOST_TEST_CONFIG names (local-sqlite when unset or empty).

    Raises ValueError naming the variable and the choices for any other value."""
    env = os.environ if environ is None else environ
    name = env.get(VARIABLE) or DEFAULT
    if name not in CONFIGURATIONS:
        raise ValueError(f"{VARIABLE}={name!r} is not one of {', '.join(CONFIGURATIONS)}")
    return CONFIGURATIONS[name]


def deselected_because(configuration: Configuration, marker_names: set[str], is_unit_test: bool) -> str | None:
    """Why a test with these markers does not run in `configuration`, or None when it does."""
    for marker, (half, engine, about) in ENGINE_MARKERS.items():
        if marker in marker_names and getattr(configuration, half) != engine:
            return about
    if not configuration.is_default and (is_unit_test or RUNS_ONCE in marker_names):
        return f"the same in every configuration (runs in {DEFAULT})"
    return None


class EngineUnavailable(Exception):
    """The configuration's PostgreSQL or S3 server cannot be had here; the message says why."""


class Engines:
    """The session's throwaway PostgreSQL cluster and radosgw, each started on first use
    and kept for the session (a failure to start is remembered and raised again), and the
    databases and buckets made on them, by the instance folder they were made for."""

    def __init__(self) -> None:
        self._cluster: Cluster | None = None
        self._gateway: Radosgw | None = None
        self._failures: dict[str, str] = {}
        self._made: list[Provision] = []  # in the order made
        self._by_root: dict[Path, Provision] = {}

    def cluster(self) -> Cluster:
        """The cluster, started now if need be; EngineUnavailable when it cannot start."""
        if self._cluster is None:
            self._raise_if_failed("postgresql")
            try:
                self._cluster = Cluster.start()
            except ClusterError as exc:
                self._failures["postgresql"] = str(exc)
                raise EngineUnavailable(str(exc)) from None
        return self._cluster

    def gateway(self) -> Radosgw:
        """Ceph's radosgw, started now if need be; EngineUnavailable when it cannot start."""
        if self._gateway is None:
            self._raise_if_failed("s3")
            try:
                self._gateway = start_gateway()
            except EngineUnavailable as exc:
                self._failures["s3"] = str(exc)
                raise
        return self._gateway

    def s3_endpoint(self) -> S3Endpoint:
        """The endpoint the S3_TEST_* variables name, or else the session's radosgw's."""
        given = endpoint_from_environment()
        return given if given is not None else self.gateway().endpoint

    def made_for(self, root: Path) -> Provision | None:
        return self._by_root.get(Path(root).resolve())

    def keep(self, root: Path, provision: Provision) -> None:
        self._made.append(provision)
        self._by_root[Path(root).resolve()] = provision

    def mark(self) -> int:
        """A point to release back to (release_since)."""
        return len(self._made)

    def release_since(self, mark: int) -> None:
        """Drop the databases and remove the buckets made since `mark`, newest first (their
        instances must be stopped: tests/conftest.py calls this as a scope ends)."""
        while len(self._made) > mark:
            released = self._made.pop()
            self._by_root = {root: kept for root, kept in self._by_root.items() if kept is not released}
            released.release()

    def stop(self) -> None:
        """Release what is left, then stop the gateway and the cluster. Safe to call twice."""
        with contextlib.suppress(Exception):  # the end of the session: best effort
            self.release_since(0)
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None

    def _raise_if_failed(self, engine: str) -> None:
        if engine in self._failures:
            raise EngineUnavailable(self._failures[engine])


ENGINES = Engines()


def start_gateway() -> Radosgw:
    """A radosgw of its own; EngineUnavailable saying why when it cannot start here."""
    missing = missing_programs()
    if missing:
        raise EngineUnavailable(f"Ceph's S3 gateway is not installed (no {', '.join(missing)}; make test installs it)")
    try:
        return Radosgw().start()
    except GatewayError as exc:
        raise EngineUnavailable(f"Ceph's S3 gateway did not start: {exc}") from None


@dataclass
class Provision:
    """Settings made for the instances of one folder, and how to remove what was made."""

    settings: dict[str, str] = field(default_factory=dict)
    releases: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def release(self) -> None:
        """Drop the database, remove the bucket. Safe to call twice."""
        while self.releases:
            self.releases.pop()()


def provision(root: Path, settings: Mapping[str, object], configuration: Configuration | None = None) -> Provision:
    """The settings that put an instance in folder `root` on `configuration` (the
    session's by default), for what `settings` leave open; see the module docstring.
    Another instance in the same folder (a restart) gets the same database and bucket,
    as it finds the same files there.

    Raises EngineUnavailable when the configuration's server cannot be had here (callers
    skip, or fail in CI: support.backend.require)."""
    earlier = ENGINES.made_for(root)
    if earlier is not None:
        return earlier
    configuration = configuration or chosen()
    made = Provision()
    if configuration.index == "postgresql" and "DATABASE_URL" not in settings:
        cluster = ENGINES.cluster()
        url = cluster.new_database()
        made.settings["DATABASE_URL"] = url
        made.releases.append(lambda: cluster.drop_database(url))
    if configuration.storage == "s3" and "STORAGE" not in settings:
        endpoint = ENGINES.s3_endpoint()
        bucket = endpoint.new_bucket()
        made.releases.append(lambda: endpoint.remove_bucket(bucket))
        let_anyone_read(endpoint, bucket, "")
        made.settings.update(bucket_settings(endpoint, bucket))
    if made.releases:
        ENGINES.keep(root, made)
    return made


def bucket_settings(endpoint: S3Endpoint, bucket: str, prefix: str = "") -> dict[str, str]:
    """The app's settings for images in `bucket` under `prefix` on `endpoint`."""
    return {
        "STORAGE": "s3",
        "S3_ENDPOINT_URL": endpoint.url,
        "S3_BUCKET": bucket,
        "S3_KEY_PREFIX": prefix,
        "S3_REGION": endpoint.region,
        "S3_ADDRESSING": endpoint.addressing,
        "AWS_ACCESS_KEY_ID": endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": endpoint.secret_key,
        "S3_CACHE_MAX_SIZE": "64m",
    }


# Where an instance keeps its state: pass these to start another one on the same state.
STATE_SETTINGS = (
    "IMAGES_DIR",
    "DATA_DIR",
    "LOG_DIR",
    "DATABASE_URL",
    *bucket_settings(S3Endpoint("", "", ""), "").keys(),
)


@dataclass(frozen=True)
class StoredState:
    """An instance's images and index, read wherever its settings (`env`) put them."""

    env: Mapping[str, str]

    @property
    def in_bucket(self) -> bool:
        return self.env.get("STORAGE", "local") == "s3"

    def image_names(self) -> set[str]:
        """Every stored object beside the previews: the plain files directly in IMAGES_DIR
        (whatever their names, but the instance's lock file), or the keys under the prefix."""
        if self.in_bucket:
            return {key for key in self._keys() if "/" not in key}
        folder = Path(self.env["IMAGES_DIR"])
        return {p.name for p in folder.iterdir() if p.is_file() and p.name != IMAGES_LOCK_NAME}

    def preview_names(self) -> set[str]:
        """The file names in the previews folder (`<image>.webp`), wherever it is."""
        if self.in_bucket:
            start = f"{PREVIEWS}/"
            return {key[len(start) :] for key in self._keys() if key.startswith(start)}
        folder = Path(self.env["IMAGES_DIR"]) / PREVIEWS
        return {p.name for p in folder.iterdir() if p.is_file()} if folder.exists() else set()

    def image_bytes(self, name: str) -> bytes | None:
        """The stored bytes of image `name` (a name under IMAGES_DIR, e.g. "previews/x.webp"
        too), or None when there is none."""
        if self.in_bucket:
            s3 = self._endpoint().client()
            try:
                return s3.get_object(Bucket=self.env["S3_BUCKET"], Key=self._prefix() + name)["Body"].read()
            except s3.exceptions.NoSuchKey:
                return None
        path = Path(self.env["IMAGES_DIR"]) / name
        return path.read_bytes() if path.is_file() else None

    def put_image_bytes(self, name: str, data: bytes) -> None:
        """Store `data` as `name` behind the app's back (a file in IMAGES_DIR, or an
        object under the prefix), as the tests' setups do."""
        if self.in_bucket:
            self._endpoint().client().put_object(Bucket=self.env["S3_BUCKET"], Key=self._prefix() + name, Body=data)
            return
        path = Path(self.env["IMAGES_DIR"]) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def remove_image(self, name: str) -> None:
        """Remove the stored `name` behind the app's back; gone already is fine."""
        if self.in_bucket:
            self._endpoint().client().delete_object(Bucket=self.env["S3_BUCKET"], Key=self._prefix() + name)
            return
        (Path(self.env["IMAGES_DIR"]) / name).unlink(missing_ok=True)

    def index_rows(self, query: str) -> list[tuple]:
        """The rows a read-only SQL query (no parameters; SQL both engines read alike)
        gives on the instance's index: its PostgreSQL database, or its SQLite file opened
        read-only."""
        url = self.env.get("DATABASE_URL")
        if url:
            with psycopg.connect(url, connect_timeout=10) as db:
                return [tuple(row) for row in db.execute(query).fetchall()]
        path = Path(self.env["DATA_DIR"]) / "index.sqlite3"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            return db.execute(query).fetchall()

    def _prefix(self) -> str:
        return self.env.get("S3_KEY_PREFIX", "")

    def _endpoint(self) -> S3Endpoint:
        return S3Endpoint(
            self.env["S3_ENDPOINT_URL"],
            self.env["AWS_ACCESS_KEY_ID"],
            self.env["AWS_SECRET_ACCESS_KEY"],
            self.env.get("S3_REGION") or "us-east-1",
            self.env.get("S3_ADDRESSING") or "path",
        )

    def _keys(self) -> set[str]:
        """The keys under the prefix, with the prefix taken off."""
        prefix = self._prefix()
        pages = (
            self._endpoint()
            .client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.env["S3_BUCKET"], Prefix=prefix)
        )
        return {item["Key"][len(prefix) :] for page in pages for item in page.get("Contents", [])}


class ReadsItsState:
    """What `support.stack.Stack` and `support.backend.Backend` share: reading their
    images and index wherever their settings (`self.env`) put them."""

    env: dict[str, str]

    def stored_names(self) -> set[str]:
        """See StoredState.image_names."""
        return StoredState(self.env).image_names()

    def stored_previews(self) -> set[str]:
        """See StoredState.preview_names."""
        return StoredState(self.env).preview_names()

    def stored_bytes(self, name: str) -> bytes | None:
        """See StoredState.image_bytes."""
        return StoredState(self.env).image_bytes(name)

    def put_stored(self, name: str, data: bytes) -> None:
        """See StoredState.put_image_bytes."""
        StoredState(self.env).put_image_bytes(name, data)

    def remove_stored(self, name: str) -> None:
        """See StoredState.remove_image."""
        StoredState(self.env).remove_image(name)

    def index_rows(self, query: str) -> list[tuple]:
        """See StoredState.index_rows."""
        return StoredState(self.env).index_rows(query)

    def shares_its_index(self) -> bool:
        """Whether its index is PostgreSQL, which other nodes may share: reconcile then
        leaves an image without a row for reconcile.ORPHAN_GRACE_SECONDS, since it may be
        another node's upload between its image and its row."""
        return bool(self.env.get("DATABASE_URL"))

    def state_settings(self) -> dict[str, str | None]:
        """The settings that say where this instance keeps its images and index: give
        them to another instance to start it on the same state (a restart, a second
        instance). DATABASE_URL and STORAGE are None (left unset) where this one has none."""
        found: dict[str, str | None] = {"DATABASE_URL": None, "STORAGE": None}
        found.update({name: self.env[name] for name in STATE_SETTINGS if name in self.env})
        return found
