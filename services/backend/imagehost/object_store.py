"""Where published images and their previews live: a local folder or an S3 bucket.

Every user of stored images (uploads, dedup, delete, expiry, reconcile, previews) can
go through one `ObjectStore`; the two implementations hold the same names:

- `LocalStore`, IMAGES_DIR as today: a thin wrapper over storage.py and previews.py,
  with their durability (fsync, link, directory fsync) unchanged.
- `S3Store`, a bucket (AWS S3, R2, MinIO, Ceph RGW, Garage) through boto3: image
  `<name>` is the object `<prefix><name>`, its preview `<prefix>previews/<name>.webp`,
  the layout of IMAGES_DIR, so nginx proxies `/images/<name>` to the same path.

With direct uploads (S3_DIRECT_UPLOADS), a browser posts a file to the staging key
`<prefix>uploads/<upload id>` under a presigned POST (`S3Store.presign_upload`); the
app checks what is there before publishing it as an image. Staging keys are in a
folder of their own: `names()` lists only the keys right under the prefix, and nginx
serves only image names, so a staged object is never an image until it is published;
nor is it public (`public_read_policy` covers image and preview names only).

Names are the server's own random names (validation.IMAGE_NAME); any other name is a
bug in the caller and raises ValueError before the store is asked, so no request can
reach another key of the bucket through a store method.

Failures of the store itself reach the client as the app's errors, never a 500: a full
store (S3: a quota, or 507 from the server) raises InsufficientStorage (507); an
unreachable, failing or misconfigured one (wrong credentials, no such bucket) raises
Unavailable (503) and is logged for the operator. A missing object is not a failure:
`size` answers None, `delete` does nothing, `read_range` raises FileNotFoundError.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from loguru import logger

from . import previews, storage
from .config import Config
from .errors import InsufficientStorage, Unavailable
from .storage import TempUpload
from .validation import ACCEPTED_TYPES, is_image_name

CONTENT_TYPES = {image_type.extension: image_type.mime for image_type in ACCEPTED_TYPES}
# The sha256 of an image's bytes, kept as the object's metadata: what dedup compares
# before a server-side copy (S3 offers no cheap byte comparison; ETags are not hashes
# of the bytes for every upload kind or server).
SHA256_METADATA = "sha256"
# S3 error codes that mean "no room": RGW's and MinIO's quota, and what a full cluster says.
FULL_CODES = frozenset({"QuotaExceeded", "XMinioStorageFull", "InsufficientCapacity"})
# A HEAD answer has no body, so its code is the bare status.
MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})

# Direct uploads: the folder under the prefix, the ids (128 random bits, URL-safe), how
# long a presigned POST stays valid, and how long after being written a staged object
# that nobody completed is kept (its POST's lifetime and an hour's margin for a slow
# complete) before the supervisor's sweep removes it.
STAGING_FOLDER = "uploads"
UPLOAD_ID_BYTES = 16
UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{22}")
UPLOAD_WINDOW = 600
STAGED_KEPT = UPLOAD_WINDOW + 3600
# The uploader's file name travels with the staged object, base64url (metadata is ASCII).
ORIGINAL_NAME_METADATA = "original-name"

# Fresh names tried before giving up: a second taken name means the store answers
# "taken" to everything (a broken conditional write), not bad luck.
NAME_ATTEMPTS = 3
# How long the health check's answer about the bucket stands (per process): /api/health
# is public, and each check is a request to the bucket, billed by some providers.
REACHABLE_CHECKED_FOR = 5.0

STORE_FULL = "The image store is full, so the image was not saved. Try again later."
STORE_UNAVAILABLE = (
    "The image store is not available right now. Try again in a moment; if it keeps happening, tell the site owner."
)


class ObjectStore(Protocol):
    """The operations the app needs on published images and previews."""

    def publish(self, upload: TempUpload, extension: str, same_content: Iterable[str] = ()) -> str:
        """Store a finished upload under a fresh random name with `extension` and return
        the name once it is live; a name already taken is never overwritten. With
        `same_content` (images that may hold the same bytes) an identical image is
        copied on the store's side instead. All or nothing."""
        ...

    def copy(self, name: str, extension: str) -> str:
        """A fresh name holding the bytes of image `name` (FileNotFoundError if gone)."""
        ...

    def delete(self, name: str) -> None:
        """Remove image `name` durably; an image already gone is not an error."""
        ...

    def delete_many(self, names: Iterable[str]) -> None:
        """Remove several images durably (one folder fsync, or one request per 1000);
        images already gone are not an error."""
        ...

    def withdraw(self, name: str) -> None:
        """Remove image `name` whose publication failed: best effort, for a caller
        already failing with an error of its own (a failure here is logged only)."""
        ...

    def size(self, name: str) -> int | None:
        """The size in bytes of image `name`, None when there is none."""
        ...

    def modified(self, name: str) -> float | None:
        """When image `name` was written (Unix time), None when there is none."""
        ...

    def read_range(self, name: str, start: int, length: int) -> bytes:
        """Up to `length` bytes of image `name` from `start` (fewer at its end, none
        past it); ValueError for a negative `start` or `length`."""
        ...

    def names(self) -> set[str]:
        """Every published image name (for reconcile, never for serving)."""
        ...

    def local_copy(self, name: str, scratch_dir: Path, max_bytes: int) -> contextlib.AbstractContextManager[Path]:
        """A context giving a local file holding image `name`'s bytes: the file itself
        in the folder, else a download into `scratch_dir` removed on leaving.
        FileNotFoundError when there is no such image; ValueError when it is larger than
        `max_bytes` (never downloaded past that)."""
        ...

    def write_preview(self, image_name: str, source: Path) -> None:
        """Make the file at `source` the preview of `image_name`; `source` is consumed
        (the local store renames it, so it must be on the images volume)."""
        ...

    def delete_preview(self, image_name: str) -> None:
        """Remove the preview of `image_name` if there is one."""
        ...

    def share_preview(self, image_name: str, same_content: Iterable[str]) -> bool:
        """Give `image_name` the preview of the first of `same_content` (images with the
        same bytes) that has one; False when none could be shared."""
        ...

    def preview_names(self) -> set[str]:
        """The names of the images that have a preview."""
        ...

    def reachable(self) -> bool:
        """Whether the store answers at all (for the health check); never raises."""
        ...


def open_store(config: Config) -> ObjectStore:
    """The store images live in: with STORAGE=s3 the bucket of the S3_* settings (the
    credentials as boto3 finds them, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from
    .env), else IMAGES_DIR. One per process: an S3 store keeps its client."""
    if config.storage != "s3":
        return LocalStore(config.images_dir)
    return S3Store(location_of(config))


def location_of(config: Config) -> S3Location:
    """The bucket the S3_* settings name."""
    return S3Location(
        endpoint_url=config.s3_endpoint_url,
        bucket=config.s3_bucket,
        region=config.s3_region,
        prefix=config.s3_key_prefix,
        addressing=config.s3_addressing,
        public_endpoint_url=config.s3_public_endpoint_url,
        access_key=config.aws_access_key_id or None,
        secret_key=config.aws_secret_access_key or None,
    )


def check_name(name: str) -> str:
    """`name` itself if it is an image name; ValueError otherwise (a caller's bug)."""
    if not is_image_name(name):
        raise ValueError(f"not an image name: {name!r}")
    return name


def new_upload_id() -> str:
    return secrets.token_urlsafe(UPLOAD_ID_BYTES)


def is_upload_id(upload_id: str) -> bool:
    return UPLOAD_ID.fullmatch(upload_id) is not None


def public_read_policy(bucket: str, prefix: str) -> dict[str, Any]:
    """The bucket policy docs/s3.md asks for: anyone may GET what nginx serves, the
    images `<prefix><name><ext>` and previews `<prefix>previews/<name><ext>.webp` of
    every accepted extension: no listing, nothing outside the prefix, and no staged
    direct upload (`<prefix>uploads/<id>`, no extension), whose bytes nobody has checked
    yet. A `*` matches `/` too, so any other key under the prefix ending in such an
    extension is public as well: the prefix should be imagehost's own (docs/s3.md).

    Previews get ARNs of their own, though on AWS `<prefix>*.webp` covers them: radosgw's
    matcher does not backtrack (a `*` ends at the first character that may follow it, so
    `*.webp` stops at the first dot of `<name>.png.webp` and fails). Names have no dot,
    so each `*` here ends where it should on both."""
    resources = [f"arn:aws:s3:::{bucket}/{prefix}*{t.extension}" for t in ACCEPTED_TYPES] + [
        f"arn:aws:s3:::{bucket}/{prefix}{previews.FOLDER}/*{t.extension}{previews.EXTENSION}" for t in ACCEPTED_TYPES
    ]
    anyone_gets = {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:GetObject"], "Resource": resources}
    return {"Version": "2012-10-17", "Statement": [anyone_gets]}


def check_range(start: int, length: int) -> None:
    if start < 0 or length < 0:
        raise ValueError(f"a range starts at 0 or later and is 0 or more bytes long, not {start}+{length}")


@dataclass(frozen=True)
class LocalStore:
    """IMAGES_DIR, as storage.py and previews.py keep it."""

    images_dir: Path

    def publish(self, upload: TempUpload, extension: str, same_content: Iterable[str] = ()) -> str:
        return upload.publish(self.images_dir, extension, same_content)

    def copy(self, name: str, extension: str) -> str:
        """A second hard link to the same file (what storage.py does for dedup), durable."""
        path = str(self.images_dir / check_name(name))
        try:
            new_name = storage.link_under_new_name(path, str(self.images_dir), extension)
            storage.sync_directory(str(self.images_dir))
        except OSError as exc:
            if storage.is_disk_full(exc):
                raise InsufficientStorage() from exc
            raise
        return new_name

    def delete(self, name: str) -> None:
        storage.remove_image(self.images_dir, check_name(name))

    def delete_many(self, names: Iterable[str]) -> None:
        for name in names:
            storage.unlink_image(self.images_dir, check_name(name))
        storage.fsync_dir(self.images_dir)

    def withdraw(self, name: str) -> None:
        storage.withdraw_image(self.images_dir, check_name(name))

    def size(self, name: str) -> int | None:
        try:
            found = os.lstat(self.images_dir / check_name(name))
        except FileNotFoundError:
            return None
        return found.st_size if stat.S_ISREG(found.st_mode) else None

    def modified(self, name: str) -> float | None:
        try:
            found = os.lstat(self.images_dir / check_name(name))
        except FileNotFoundError:
            return None
        return found.st_mtime if stat.S_ISREG(found.st_mode) else None

    def read_range(self, name: str, start: int, length: int) -> bytes:
        check_range(start, length)
        fd = os.open(self.images_dir / check_name(name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            return os.pread(fd, length, start)
        finally:
            os.close(fd)

    def names(self) -> set[str]:
        return storage.image_files(self.images_dir)

    @contextmanager
    def local_copy(self, name: str, scratch_dir: Path, max_bytes: int) -> Iterator[Path]:
        yield self.images_dir / check_name(name)  # read in place: nothing to copy

    def write_preview(self, image_name: str, source: Path) -> None:
        """Rename `source` (fsynced by the caller) to the preview's name, then fsync the
        previews folder: a preview marked ready survives a crash."""
        os.chmod(source, 0o644)  # nginx's user serves it
        target = previews.path_of(self.images_dir, check_name(image_name))
        try:
            os.replace(source, target)
        except BaseException:
            source.unlink(missing_ok=True)
            raise
        storage.fsync_dir(target.parent)

    def delete_preview(self, image_name: str) -> None:
        previews.remove(self.images_dir, check_name(image_name))

    def share_preview(self, image_name: str, same_content: Iterable[str]) -> bool:
        return previews.share(self.images_dir, check_name(image_name), map(check_name, same_content))

    def preview_names(self) -> set[str]:
        return previews.files(self.images_dir)

    def reachable(self) -> bool:
        return True  # the health check sees for itself whether IMAGES_DIR is writable


@dataclass(frozen=True)
class S3Location:
    """Which bucket, where, and how to address it.

    `prefix` is put before every key ("" or ending in "/"); `addressing` is "path"
    (`endpoint/bucket/key`, what a server on an IP address needs) or "virtual"
    (`bucket.endpoint/key`). `access_key`/`secret_key` None: boto3 finds them the usual
    way (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, an instance role).
    `public_endpoint_url`: the endpoint as browsers reach it, for presigned POSTs
    ("": `endpoint_url`)."""

    endpoint_url: str
    bucket: str
    region: str = "us-east-1"
    prefix: str = ""
    addressing: str = "path"
    access_key: str | None = None
    secret_key: str | None = None
    public_endpoint_url: str = ""

    def __post_init__(self) -> None:
        if self.prefix and not self.prefix.endswith("/"):
            raise ValueError(f"the key prefix must end with '/', got {self.prefix!r}")
        if self.addressing not in ("path", "virtual"):
            raise ValueError(f"addressing must be path or virtual, got {self.addressing!r}")


class S3Store:
    """A bucket, through boto3. The client is made on first use, so in the process
    that uses it (after the supervisor's fork)."""

    def __init__(self, location: S3Location):
        self.location = location
        self._client: Any = None
        self._presigner: Any = None
        self._reachable: tuple[float, bool] | None = None  # (when checked, the answer)
        self._checking = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._new_client(self.location.endpoint_url)
        return self._client

    @property
    def presigner(self) -> Any:
        """A client for the endpoint browsers reach, which only signs (no request is
        sent through it): a POST policy's signature does not cover the host, so the
        form's address is the public endpoint's while the app's is another."""
        if self._presigner is None:
            self._presigner = self._new_client(self.location.public_endpoint_url or self.location.endpoint_url)
        return self._presigner

    def _new_client(self, endpoint_url: str) -> Any:
        # boto3 only where a bucket is used: importing it costs every process about
        # 10 MB and a part of a second, which local mode's workers need not pay.
        import boto3  # noqa: PLC0415
        from botocore.config import Config as BotoConfig  # noqa: PLC0415

        where = self.location
        return boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=where.region,
            aws_access_key_id=where.access_key,
            aws_secret_access_key=where.secret_key,
            config=BotoConfig(
                signature_version="s3v4",
                s3={"addressing_style": where.addressing},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
                # botocore 1.36 began sending CRC checksums in aws-chunked trailers,
                # which many S3-compatible servers (Ceph before Reef, older MinIO)
                # refuse: checksums only where the operation requires one.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def key(self, name: str) -> str:
        return self.location.prefix + check_name(name)

    def preview_key(self, image_name: str) -> str:
        return f"{self.location.prefix}{previews.FOLDER}/{previews.preview_name(check_name(image_name))}"

    def publish(self, upload: TempUpload, extension: str, same_content: Iterable[str] = ()) -> str:
        """Upload with `If-None-Match: *`: the name is live once the PUT answers, and a
        name someone else took meanwhile is refused by the server (412), not overwritten;
        then another name is tried. An identical image (same sha256 in its metadata and
        the same size) is copied on the server instead of uploaded again."""
        for candidate in same_content:
            if self._holds(candidate, upload.sha256, upload.size):
                try:
                    return self.copy(candidate, extension)
                except FileNotFoundError:
                    continue  # deleted since the check
        for _ in range(NAME_ATTEMPTS):
            name = storage.new_image_name(extension)
            body = upload.open_for_reading()
            try:
                with _answers_of_the_store(f"publishing {name}"):
                    self.client.put_object(
                        Bucket=self.location.bucket,
                        Key=self.key(name),
                        Body=body,
                        ContentLength=upload.size,
                        ContentType=CONTENT_TYPES.get(extension, "application/octet-stream"),
                        Metadata={SHA256_METADATA: upload.sha256},
                        IfNoneMatch="*",
                    )
                return name
            except _NameTaken:
                # 2**-96 odds, or our own PUT retried by botocore after its answer was
                # lost (the first copy is then left for reconcile): never overwrite.
                continue
        raise _refused(f"publishing an upload: {NAME_ATTEMPTS} fresh names were all taken")

    def copy(self, name: str, extension: str) -> str:
        """A server-side copy (its metadata with it) under a fresh name checked free by a
        HEAD first: CopyObject takes no `If-None-Match` on every server."""
        for _ in range(NAME_ATTEMPTS):
            new_name = storage.new_image_name(extension)
            if self.size(new_name) is None:
                break
        else:
            raise _refused(f"copying {name}: {NAME_ATTEMPTS} fresh names were all taken")
        source = {"Bucket": self.location.bucket, "Key": self.key(name)}
        try:
            with _answers_of_the_store(f"copying {name}"):
                self.client.copy_object(Bucket=self.location.bucket, Key=self.key(new_name), CopySource=source)
        except _Missing as exc:
            raise FileNotFoundError(name) from exc
        return new_name

    def delete(self, name: str) -> None:
        with _answers_of_the_store(f"deleting {name}"):
            self.client.delete_object(Bucket=self.location.bucket, Key=self.key(name))

    def delete_many(self, names: Iterable[str]) -> None:
        """One DeleteObject per name: not every S3-compatible server takes a
        DeleteObjects (it needs a Content-MD5 that botocore no longer always sends)."""
        for name in names:
            self.delete(name)

    def withdraw(self, name: str) -> None:
        try:
            self.delete(name)
        except (Unavailable, InsufficientStorage) as exc:
            logger.warning("could not withdraw {} after a failed upload ({}); reconcile removes it", name, exc)

    def size(self, name: str) -> int | None:
        head = self._head(self.key(name))
        return None if head is None else int(head["ContentLength"])

    def modified(self, name: str) -> float | None:
        head = self._head(self.key(name))
        return None if head is None else float(head["LastModified"].timestamp())

    def read_range(self, name: str, start: int, length: int) -> bytes:
        check_range(start, length)
        if length == 0:
            return b""
        try:
            with _answers_of_the_store(f"reading {name}"):
                answer = self.client.get_object(
                    Bucket=self.location.bucket, Key=self.key(name), Range=f"bytes={start}-{start + length - 1}"
                )
                return bytes(answer["Body"].read())
        except _Missing as exc:
            raise FileNotFoundError(name) from exc
        except _client_error():  # only InvalidRange gets here: `start` at or past the end
            return b""

    def names(self) -> set[str]:
        keys = self._list(self.location.prefix)
        return {key for key in keys if is_image_name(key)}

    @contextmanager
    def local_copy(self, name: str, scratch_dir: Path, max_bytes: int) -> Iterator[Path]:
        """Download into a private dot-file of `scratch_dir` named by this process's pid
        (as previews.temp_name: what a dead maker leaves is removed by its pid), at most
        `max_bytes` + 1 bytes read (one more tells a larger object), removed on leaving."""
        fd, path = tempfile.mkstemp(prefix=f".{os.getpid()}-", suffix=previews.TEMP_SUFFIX, dir=scratch_dir)
        try:
            with os.fdopen(fd, "wb") as file:
                self._download(name, file, max_bytes)
            yield Path(path)
        finally:
            Path(path).unlink(missing_ok=True)

    def _download(self, name: str, file: Any, max_bytes: int) -> None:
        self._download_key(self.key(name), file, max_bytes)

    def _download_key(self, key: str, file: Any, max_bytes: int) -> None:
        """Write object `key` to `file`, reading at most `max_bytes` + 1 bytes: ValueError
        when it is larger than `max_bytes`, FileNotFoundError when it is not there,
        nothing written when it is empty."""
        try:
            with _answers_of_the_store(f"reading {key}"):
                answer = self.client.get_object(Bucket=self.location.bucket, Key=key, Range=f"bytes=0-{max_bytes}")
                body, written = answer["Body"], 0
                while chunk := body.read(1 << 20):
                    written += len(chunk)
                    if written > max_bytes:
                        raise ValueError(f"{key} is larger than {max_bytes} bytes")
                    file.write(chunk)
        except _Missing as exc:
            raise FileNotFoundError(key) from exc
        except _client_error():  # only InvalidRange gets here: the object is empty
            return

    def write_preview(self, image_name: str, source: Path) -> None:
        try:
            with open(source, "rb") as body, _answers_of_the_store(f"writing the preview of {image_name}"):
                self.client.put_object(
                    Bucket=self.location.bucket, Key=self.preview_key(image_name), Body=body, ContentType="image/webp"
                )
        finally:
            source.unlink(missing_ok=True)

    def delete_preview(self, image_name: str) -> None:
        with _answers_of_the_store(f"deleting the preview of {image_name}"):
            self.client.delete_object(Bucket=self.location.bucket, Key=self.preview_key(image_name))

    def share_preview(self, image_name: str, same_content: Iterable[str]) -> bool:
        """A server-side copy of the first preview of `same_content` that is there."""
        target = self.preview_key(image_name)
        for other in same_content:
            source = {"Bucket": self.location.bucket, "Key": self.preview_key(other)}
            try:
                with _answers_of_the_store(f"sharing the preview of {other}"):
                    self.client.copy_object(Bucket=self.location.bucket, Key=target, CopySource=source)
            except _Missing:
                continue
            return True
        return False

    def preview_names(self) -> set[str]:
        keys = self._list(f"{self.location.prefix}{previews.FOLDER}/")
        return {name for name in map(previews.image_name_of, keys) if name is not None}

    def reachable(self) -> bool:
        """A HEAD of the bucket: False when it cannot be reached or refuses (logged). At
        most one per REACHABLE_CHECKED_FOR seconds and one at a time: meanwhile the
        last answer stands, so a flood of health checks is not a flood of requests to
        the bucket, nor of threads waiting on a bucket that does not answer."""
        last = self._reachable
        if last is not None and time.monotonic() - last[0] < REACHABLE_CHECKED_FOR:
            return last[1]
        if not self._checking.acquire(blocking=last is None):
            assert last is not None
            return last[1]  # another thread is asking the bucket right now
        try:
            try:
                with _answers_of_the_store("checking the bucket"):
                    self.client.head_bucket(Bucket=self.location.bucket)
                answer = True
            except (_Missing, Unavailable, InsufficientStorage):
                answer = False
            self._reachable = (time.monotonic(), answer)
            return answer
        finally:
            self._checking.release()

    # --- Direct uploads: the staging keys ------------------------------------------

    def staging_key(self, upload_id: str) -> str:
        """`<prefix>uploads/<upload id>`; ValueError for anything but an upload id."""
        if not is_upload_id(upload_id):
            raise ValueError(f"not an upload id: {upload_id!r}")
        return f"{self.location.prefix}{STAGING_FOLDER}/{upload_id}"

    def presign_upload(self, upload_id: str, content_type: str, max_bytes: int, original_name: str) -> dict[str, Any]:
        """A presigned POST ({"url", "fields"}) valid UPLOAD_WINDOW seconds for exactly
        the staging key of `upload_id`: 1 to `max_bytes` bytes, this Content-Type, the
        uploader's file name as metadata. No request is sent."""
        key = self.staging_key(upload_id)
        fields = {
            "Content-Type": content_type,
            f"x-amz-meta-{ORIGINAL_NAME_METADATA}": base64.urlsafe_b64encode(original_name.encode()).decode(),
        }
        conditions: list[Any] = [{name: value} for name, value in fields.items()]
        conditions.append(["content-length-range", 1, max_bytes])
        post = self.presigner.generate_presigned_post(
            Bucket=self.location.bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=UPLOAD_WINDOW
        )
        return {"url": post["url"], "fields": post["fields"]}

    def staged(self, upload_id: str) -> tuple[int, str] | None:
        """The staged object's size and the file name it came with ("" when it has
        none that reads), or None when there is no such object."""
        head = self._head(self.staging_key(upload_id))
        if head is None:
            return None
        return int(head["ContentLength"]), _decoded_name(head.get("Metadata", {}).get(ORIGINAL_NAME_METADATA, ""))

    def read_staged(self, upload_id: str, length: int) -> bytes:
        """Up to the first `length` bytes of the staged object; FileNotFoundError when gone."""
        try:
            with _answers_of_the_store(f"reading upload {upload_id}"):
                answer = self.client.get_object(
                    Bucket=self.location.bucket, Key=self.staging_key(upload_id), Range=f"bytes=0-{length - 1}"
                )
                return bytes(answer["Body"].read(length))
        except _Missing as exc:
            raise FileNotFoundError(upload_id) from exc
        except _client_error():  # only InvalidRange gets here: the object is empty
            return b""

    def download_staged(self, upload_id: str, file: Any, max_bytes: int) -> None:
        """Write the staged object to `file` (see _download_key: ValueError past `max_bytes`)."""
        self._download_key(self.staging_key(upload_id), file, max_bytes)

    def delete_staged(self, upload_id: str) -> None:
        with _answers_of_the_store(f"deleting upload {upload_id}"):
            self.client.delete_object(Bucket=self.location.bucket, Key=self.staging_key(upload_id))

    def remove_stale_uploads(self, written_before: float) -> int:
        """Delete every staged object written before `written_before` (Unix time);
        returns how many. Only keys named as upload ids are touched: with an empty
        prefix, `uploads/` may hold another program's files."""
        folder = f"{self.location.prefix}{STAGING_FOLDER}/"
        stale = [
            key
            for key, written in self._list_with_times(folder)
            if written < written_before and is_upload_id(key[len(folder) :])
        ]
        for key in stale:
            with _answers_of_the_store(f"deleting the stale upload {key}"):
                self.client.delete_object(Bucket=self.location.bucket, Key=key)
        return len(stale)

    def _list_with_times(self, prefix: str) -> list[tuple[str, float]]:
        """Every key under `prefix` (its sub-folders too) with when it was written."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.location.bucket, Prefix=prefix)
        found: list[tuple[str, float]] = []
        with _answers_of_the_store(f"listing {prefix}"):
            for page in pages:
                found.extend((item["Key"], item["LastModified"].timestamp()) for item in page.get("Contents", []))
        return found

    def _holds(self, name: str, sha256: str, size: int) -> bool:
        head = self._head(self.key(name))
        return (
            head is not None
            and int(head["ContentLength"]) == size
            and head.get("Metadata", {}).get(SHA256_METADATA) == sha256
        )

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            with _answers_of_the_store(f"looking up {key}"):
                return dict(self.client.head_object(Bucket=self.location.bucket, Key=key))
        except _Missing:
            return None

    def _list(self, prefix: str) -> list[str]:
        """The keys right under `prefix` (not in its sub-folders), without the prefix."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=prefix, Delimiter="/"
        )
        found: list[str] = []
        with _answers_of_the_store(f"listing {prefix or 'the bucket'}"):
            for page in pages:
                found.extend(item["Key"][len(prefix) :] for item in page.get("Contents", []))
        return found


def _decoded_name(encoded: str) -> str:
    """The file name presign_upload put in the metadata; "" for anything that does not read."""
    try:
        return base64.urlsafe_b64decode(encoded.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError):
        return ""


class _Missing(Exception):
    """The object asked for is not there (404)."""


class _NameTaken(Exception):
    """A conditional write found the name taken (412)."""


def _refused(what: str) -> Unavailable:
    logger.error("the image store refused {}", what)
    return Unavailable(STORE_UNAVAILABLE)


def _client_error() -> type[Exception]:
    from botocore.exceptions import ClientError  # noqa: PLC0415 (see S3Store.client)

    error: type[Exception] = ClientError
    return error


@contextmanager
def _answers_of_the_store(doing: str) -> Iterator[None]:
    """Turn what the store answers into the app's errors: 404 -> _Missing, 412 ->
    _NameTaken, no room -> InsufficientStorage, anything else the store or the way to
    it fails with -> Unavailable, logged with what was being done. A 416 (a range past
    the end) is raised as it is, for read_range."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 (see S3Store.client)

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in MISSING_CODES:  # not NoSuchBucket: that is the operator's to fix
            raise _Missing(code) from exc
        if code == "PreconditionFailed" or status == 412:
            raise _NameTaken(code) from exc
        if code == "InvalidRange" or status == 416:
            raise
        if code in FULL_CODES or status == 507:
            logger.error("the image store is full ({} while {})", code, doing)
            raise InsufficientStorage(STORE_FULL) from exc
        raise _refused(f"{doing}: {status} {code} {error.get('Message', '')}") from exc
    except BotoCoreError as exc:  # unreachable, timed out, no credentials found
        logger.error("the image store could not be reached while {}: {}", doing, exc)
        raise Unavailable(STORE_UNAVAILABLE) from exc
