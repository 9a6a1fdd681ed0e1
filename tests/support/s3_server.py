"""A real S3 server for tests: Ceph's RADOS Gateway on a throwaway one-node cluster.

    with Radosgw(folder).start() as gateway:
        s3 = gateway.endpoint.client()           # boto3, path-style, signed (SigV4)
        bucket = gateway.endpoint.new_bucket()

In pytest use the fixtures in tests/conftest.py: `s3_endpoint` (one gateway per session)
and `s3_bucket` (a fresh bucket per test, emptied and removed after it).

radosgw is the S3 server of real Ceph clusters: it checks SigV4 signatures, presigned
URLs and POST policies as AWS does. The cluster is one monitor, one in-memory OSD
(memstore: every start begins empty) and the gateway, no manager (S3 does not need
one), all bound to 127.0.0.1 on free ports, with every file in a temp folder that `stop()`
removes. It starts in a few seconds. What each setting is for is said in `ceph_conf`.

Instead of a gateway of its own, the same tests run against any S3 endpoint given by
the environment (docs/s3.md): S3_TEST_ENDPOINT_URL, S3_TEST_ACCESS_KEY,
S3_TEST_SECRET_KEY, and optionally S3_TEST_REGION (us-east-1) and S3_TEST_ADDRESSING
(path, or virtual for virtual-host-style bucket addressing).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from imagehost.object_store import public_read_policy
from local_runner import die_with_parent

from .ports import free_port_block

DAEMONS = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")
PACKAGES = "ceph-mon ceph-osd radosgw ceph-common"
ACCESS_KEY = "IMAGEHOSTTESTACCESS0"
SECRET_KEY = "imagehost-test-secret-key-0123456789abcdef"
REGION = "us-east-1"
START_SECONDS = 60
STOP_SECONDS = 15
# Ports of the block taken for one cluster: the monitor's two, the gateway's, then a
# range the OSD binds its messengers in (Ceph's default range, 6800-7300, could clash
# with another cluster on the machine).
MON_V2, MON_V1, GATEWAY, OSD_RANGE_START = 0, 1, 2, 3
PORT_BLOCK = 24
# The in-memory OSD's capacity (memory is taken as objects arrive, not up front). The
# bench asks for more: its upload scenarios put gigabytes through the bucket.
MEMSTORE_BYTES = 1 << 30


@dataclass(frozen=True)
class S3Endpoint:
    """Where an S3 server answers and with which credentials."""

    url: str
    access_key: str
    secret_key: str
    region: str = REGION
    addressing: str = "path"

    def client(self, **changes: Any) -> Any:
        """A boto3 S3 client for this endpoint; `changes` replace fields first (e.g.
        secret_key="wrong" or url= an address where nothing listens)."""
        endpoint = self if not changes else S3Endpoint(**{**self.__dict__, **changes})
        return boto3.client(
            "s3",
            endpoint_url=endpoint.url,
            aws_access_key_id=endpoint.access_key,
            aws_secret_access_key=endpoint.secret_key,
            region_name=endpoint.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": endpoint.addressing},
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    def new_bucket(self) -> str:
        """Create a bucket with a fresh random name and return the name."""
        name = f"imagehost-test-{secrets.token_hex(6)}"
        options: dict[str, Any] = {}
        if self.region != "us-east-1":  # AWS refuses the default region as a constraint
            options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.client().create_bucket(Bucket=name, **options)
        return name

    def remove_bucket(self, name: str) -> None:
        """Delete every object of bucket `name`, then the bucket. Gone already is fine."""
        s3 = self.client()
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
            s3.delete_bucket(Bucket=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchBucket":
                raise


def endpoint_from_environment(environ: dict[str, str] | None = None) -> S3Endpoint | None:
    """The endpoint the S3_TEST_* variables name, or None when S3_TEST_ENDPOINT_URL is unset.

    Raises ValueError naming the variable when one is missing or not understood."""
    env = os.environ if environ is None else environ
    url = env.get("S3_TEST_ENDPOINT_URL", "")
    if not url:
        return None
    missing = [name for name in ("S3_TEST_ACCESS_KEY", "S3_TEST_SECRET_KEY") if not env.get(name)]
    if missing:
        raise ValueError(f"S3_TEST_ENDPOINT_URL is set but {' and '.join(missing)} not")
    addressing = env.get("S3_TEST_ADDRESSING", "path")
    if addressing not in ("path", "virtual"):
        raise ValueError(f"S3_TEST_ADDRESSING must be path or virtual, not {addressing!r}")
    return S3Endpoint(
        url, env["S3_TEST_ACCESS_KEY"], env["S3_TEST_SECRET_KEY"], env.get("S3_TEST_REGION") or REGION, addressing
    )


def missing_programs() -> list[str]:
    """The Ceph programs the gateway needs that are not on PATH."""
    return [name for name in DAEMONS if shutil.which(name) is None]


GATEWAY_DAEMON = "client.rgw.a"


def let_anyone_read(endpoint: S3Endpoint, bucket: str, prefix: str) -> None:
    """The bucket policy docs/s3.md asks for (object_store.public_read_policy): anyone may
    GET the prefix's images and previews, how nginx fetches them, and nothing else."""
    endpoint.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read_policy(bucket, prefix)))


class GatewayError(Exception):
    """The cluster did not start; the message says at which step, with the daemon's log."""


@dataclass
class Radosgw:
    """A one-node Ceph cluster with its gateway, in a temp folder of its own."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="imagehost-ceph-")))
    memstore_bytes: int = MEMSTORE_BYTES
    processes: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.port_base = free_port_block(PORT_BLOCK)
        self.conf = self.folder / "ceph.conf"

    @property
    def endpoint(self) -> S3Endpoint:
        return S3Endpoint(f"http://127.0.0.1:{self.port_base + GATEWAY}", ACCESS_KEY, SECRET_KEY)

    def start(self) -> Self:
        """Make the cluster, start monitor, OSD and gateway, create the S3 user.

        Returns once the gateway answers HTTP. Raises GatewayError (everything started is
        stopped and the folder removed) when a step fails or takes over START_SECONDS."""
        deadline = time.monotonic() + START_SECONDS
        try:
            self._start(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, deadline: float) -> None:
        for name in ("run", "log", "mon.a", "osd.0", "rgw"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        fsid = str(uuid.uuid4())
        self.conf.write_text(ceph_conf(self.folder, fsid, self.port_base, self.memstore_bytes))
        self._run("monmaptool", "--create", "--clobber", "--fsid", fsid, "--addv", "a", self._mon_addresses(),
                  str(self.folder / "monmap"))  # fmt: skip
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(self.folder / "monmap"))
        self._spawn("mon.a", "ceph-mon", "-i", "a")
        self._wait("the monitor to answer", deadline, lambda: self._ceph("mon", "stat") is not None)
        osd_uuid = str(uuid.uuid4())
        self._run("ceph", "osd", "new", osd_uuid)
        self._run("ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)
        self._spawn("osd.0", "ceph-osd", "-i", "0")
        self._wait("the OSD to be up", deadline, self._osd_is_up)
        self._spawn(GATEWAY_DAEMON, "radosgw", "-n", GATEWAY_DAEMON)
        self._wait("the gateway to answer HTTP", deadline, self._gateway_answers)
        self._run("radosgw-admin", "user", "create", "--uid=imagehost-tests", "--display-name=imagehost tests",
                  f"--access-key={ACCESS_KEY}", f"--secret-key={SECRET_KEY}")  # fmt: skip

    def limit_bucket(self, bucket: str, max_objects: int) -> None:
        """Give `bucket` a quota of `max_objects` objects: the gateway then refuses more
        with 403 QuotaExceeded, its answer when a bucket is full."""
        scope = ("--quota-scope=bucket", f"--bucket={bucket}")
        self._run("radosgw-admin", "quota", "set", *scope, f"--max-objects={max_objects}")
        self._run("radosgw-admin", "quota", "enable", *scope)

    def stop_gateway(self) -> None:
        """Stop only the gateway (its port then refuses connections); the cluster and its
        objects stay, for start_gateway."""
        process = self.processes.pop(GATEWAY_DAEMON)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def start_gateway(self) -> None:
        """Start the gateway again on its port; returns once it answers HTTP (GatewayError
        after START_SECONDS)."""
        self._spawn(GATEWAY_DAEMON, "radosgw", "-n", GATEWAY_DAEMON)
        self._wait("the gateway to answer HTTP again", time.monotonic() + START_SECONDS, self._gateway_answers)

    def stop(self) -> None:
        """Stop the daemons (gateway first, monitor last) and remove the folder. Safe to call twice."""
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- steps ---------------------------------------------------------------------------

    def _mon_addresses(self) -> str:
        return f"[v2:127.0.0.1:{self.port_base + MON_V2},v1:127.0.0.1:{self.port_base + MON_V1}]"

    def _run(self, program: str, *args: str) -> str:
        """Run one Ceph command to its end; its output, or GatewayError with what it said."""
        done = subprocess.run(
            [program, "-c", str(self.conf), *args], capture_output=True, text=True, timeout=START_SECONDS, check=False
        )
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-2000:]
            raise GatewayError(f"{program} {' '.join(args)} failed (status {done.returncode}): {said}")
        return done.stdout

    def _spawn(self, name: str, program: str, *args: str) -> None:
        """Start a daemon in the foreground (-f), as a child that dies with this process."""
        with open(self.folder / "log" / f"{name}.out", "ab") as output:
            self.processes[name] = subprocess.Popen(
                [program, "-f", "-c", str(self.conf), *args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 (SIGTERM when the session dies)
            )

    def _ceph(self, *args: str) -> str | None:
        """The `ceph` CLI's answer, or None while the monitor does not answer."""
        try:
            done = subprocess.run(
                ["ceph", "-c", str(self.conf), "--connect-timeout", "2", *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None
        return done.stdout if done.returncode == 0 else None

    def _osd_is_up(self) -> bool:
        answer = self._ceph("osd", "stat", "-f", "json")
        return answer is not None and json.loads(answer).get("num_up_osds") == 1

    def _gateway_answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint.url + "/", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def _wait(self, what: str, deadline: float, ready: Any) -> None:
        """Poll `ready()` every 0.2 s until it is true; GatewayError when a daemon has
        exited or the deadline passes, with the end of that daemon's log."""
        while not ready():
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise GatewayError(f"{name} exited ({process.returncode}) waiting for {what}:\n{self._log(name)}")
            if time.monotonic() > deadline:
                last = next(reversed(self.processes))
                raise GatewayError(f"timed out waiting for {what}:\n{self._log(last)}")
            time.sleep(0.2)

    def _log(self, name: str, lines: int = 20) -> str:
        text = ""
        for path in (self.folder / "log" / f"{name}.out", self.folder / "log" / f"{name}.log"):
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def ceph_conf(folder: Path, fsid: str, port_base: int, memstore_bytes: int = MEMSTORE_BYTES) -> str:
    """ceph.conf for a one-node cluster on 127.0.0.1 with every file under `folder`, its
    OSD holding up to `memstore_bytes` of objects in memory."""
    mon = f"[v2:127.0.0.1:{port_base + MON_V2},v1:127.0.0.1:{port_base + MON_V1}]"
    return f"""\
[global]
fsid = {fsid}
mon host = {mon}
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv4 = true
ms bind ipv6 = false
ms bind port min = {port_base + OSD_RANGE_START}
ms bind port max = {port_base + PORT_BLOCK - 1}
# A throwaway cluster on loopback: no cephx keys to make and hand around.
auth cluster required = none
auth service required = none
auth client required = none
run dir = {folder}/run
pid file = {folder}/run/$name.pid
admin socket = {folder}/run/$name.asok
log file = {folder}/log/$name.log
crash dir = {folder}/crash
keyring = /dev/null
# One OSD holds every pool, one copy of each object.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
debug ms = 0
client mount timeout = 30
# Map updates (each pool the gateway makes) every 50 ms instead of every second: the
# gateway's first start goes from about 9 s to 1 s.
paxos propose interval = 0.05

[mon]
mon data = {folder}/$name
mon cluster log file = {folder}/log/cluster.log

[osd]
osd data = {folder}/$name
# Objects in the OSD's memory: nothing on disk, each start begins empty.
osd objectstore = memstore
memstore device bytes = {memstore_bytes}
osd op num shards = 1
osd op num threads per shard = 2
osd max object name len = 460
osd max object namespace len = 64

[client.rgw.a]
# With auth none the gateway still asks for a secure monitor connection by default and
# loops on "get_initial_auth_request returned -13"; crc is what the monitor offers.
ms mon client mode = crc secure
rgw data = {folder}/rgw
rgw frontends = beast endpoint=127.0.0.1:{port_base + GATEWAY}
rgw thread pool size = 64
rgw dynamic resharding = false
rgw enable usage log = false
# Quotas checked against the bucket's current numbers, not a copy up to 10 minutes old.
rgw bucket quota ttl = 0
rgw user quota bucket sync interval = 0
# The parts of a deleted object past its first 4 MiB wait for the garbage collector, by
# default 2 hours, then an hourly pass: in memory, the bench's 4.5 MiB uploads would pile
# up. Collected within seconds instead.
rgw gc obj min wait = 0
rgw gc processor period = 5
"""
