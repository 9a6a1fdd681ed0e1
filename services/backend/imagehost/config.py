"""Settings: the one list of them (SETTINGS), and one frozen dataclass built and
validated from it once at start-up.

Values come from the process environment, falling back to a `.env` file, falling back
to the defaults in SETTINGS. Nothing else in the package reads `os.environ`: the `Config`
is passed to whoever needs it.

SETTINGS is the registry of every variable imagehost reads, the backend's and nginx's
alike: its default, who reads it, what it means. The copies that cannot import it
(.env.sample, README's table, render-config.sh, which runs in the nginx image without
Python, and docker-compose.yml) are checked against it by
tests/unit/test_settings_registry.py; the test helpers take the list from here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from .durations import LONGEST, describe, seconds_of
from .web import origin_of

MIB = 1024 * 1024
# Room for the multipart envelope (boundaries, part headers) around a file of exactly
# MAX_UPLOAD_BYTES. nginx's client_max_body_size is MAX_UPLOAD_BYTES plus this
# (services/nginx/render-config.sh; tests/integration/test_nginx_config.py checks the copy).
MULTIPART_ENVELOPE_BYTES = 64 * 1024


class ConfigError(ValueError):
    """A setting has a value the service cannot use; the message names the variable."""


def _integer(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip().replace("_", ""))
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
        return value

    return parse


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 3600:
        raise ConfigError(f"{name} must be more than 0 and at most 3600 seconds, got {raw}")
    return value


def _boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _path(name: str, raw: str) -> Path:
    if not raw.strip():
        raise ConfigError(f"{name} must be a directory path, got an empty value")
    return Path(raw.strip())


def _database_url(name: str, raw: str) -> str:
    """Empty (the SQLite file in DATA_DIR) or a libpq URL: postgresql://user:password@host:port/database."""
    value = raw.strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (parsing it raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise ConfigError(f"{name} is not a URL: {exc}") from None
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise ConfigError(
            f"{name} must be empty (SQLite in DATA_DIR) or postgresql://user:password@host:5432/database "
            f"(with the database's name); got one starting {value.split(':', 1)[0][:20]!r}"
        )
    return value


def _host(name: str, raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"[A-Za-z0-9.:-]+", value):
        raise ConfigError(f"{name} must be an address such as 127.0.0.1 or 0.0.0.0, got {raw!r}")
    return value


def _base_url(name: str, raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/%]*)?", value):
        raise ConfigError(f"{name} must be empty or a URL such as https://img.example.com, got {raw!r}")
    return value


def _origins(name: str, raw: str) -> frozenset[str]:
    """'https://a.example, https://B.example:443/' -> {'https://a.example', 'https://b.example'}."""
    origins = set()
    for item in filter(None, (part.strip() for part in raw.split(","))):
        origin = origin_of(item)
        if origin is None or item.rstrip("/").lower().count("/") > 2:
            raise ConfigError(
                f"{name} must be a comma-separated list of origins such as "
                f"https://a.example, https://b.example:8443 (no path), got {item!r}"
            )
        origins.add(origin)
    return frozenset(origins)


def _token(name: str, raw: str) -> str:
    value = raw.strip()
    if value and (len(value) < 16 or not re.fullmatch(r"[\x21-\x7e]+", value)):
        raise ConfigError(f"{name} must be empty or at least 16 printable characters without spaces")
    return value


def _duration(name: str, raw: str) -> int | None:
    try:
        return seconds_of(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be a number and a unit (s, m, h or d), like 30d, at most {describe(LONGEST)}, "
            f"or 'never'; got {raw!r}"
        ) from None


def _metrics_allow(name: str, raw: str) -> tuple[str, ...]:
    """'127.0.0.1 10.0.0.0/8' -> ('127.0.0.1', '10.0.0.0/8'); `all` lets everyone through."""
    items = tuple(raw.split())
    for item in items:
        if item != "all" and not re.fullmatch(r"[0-9A-Fa-f.:]+(/[0-9]{1,3})?", item):
            raise ConfigError(
                f"{name} must be addresses or CIDR ranges (127.0.0.1 10.0.0.0/8 ::1) or all, got {item!r}"
            )
    return items


def _storage(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("local", "s3"):
        raise ConfigError(
            f"{name} must be local (IMAGES_DIR) or s3 (the bucket of S3_ENDPOINT_URL, S3_BUCKET), got {raw!r}"
        )
    return value


def _text(name: str, raw: str) -> str:
    return raw.strip()


# The same rules as services/nginx/render-config.sh's s3_settings, which nginx's side
# of STORAGE=s3 is rendered with: the app and nginx must name the same keys.
_ENDPOINT = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(:[0-9]{1,5})?/?")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_KEY_PREFIX = re.compile(r"([A-Za-z0-9_.-]+/)+")
_DOT_FOLDER = re.compile(r"(^|/)\.+/")


def _endpoint_url(name: str, raw: str) -> str:
    value = raw.strip()
    if value and not _ENDPOINT.fullmatch(value):
        raise ConfigError(
            f"{name} must be http:// or https:// and a host with an optional port, nothing after it, got {raw!r}"
        )
    return value


def _bucket(name: str, raw: str) -> str:
    value = raw.strip()
    if value and not _BUCKET.fullmatch(value):
        raise ConfigError(f"{name} must be a bucket name (3-63 of a-z 0-9 . -), got {raw!r}")
    return value


def _key_prefix(name: str, raw: str) -> str:
    value = raw.strip()
    if value and (not _KEY_PREFIX.fullmatch(value) or _DOT_FOLDER.search(value)):
        raise ConfigError(
            f"{name} must be empty or folders ending in / (a-z A-Z 0-9 _ . -, no . or .. folder), got {raw!r}"
        )
    return value


def _addressing(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("path", "virtual"):
        raise ConfigError(f"{name} must be path (endpoint/bucket/key) or virtual (bucket.endpoint/key), got {raw!r}")
    return value


def _log_level(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"{name} must be one of DEBUG, INFO, WARNING, ERROR, got {raw!r}")
    return value


@dataclass(frozen=True)
class Setting:
    """One environment variable imagehost reads.

    `default` is the value as written in .env (None: worked out where it is read, such as
    FRONTEND_DIR). `field` and `parse` are the backend's Config field and its parser;
    None when only nginx's config (render-config.sh) or the runner reads the variable.
    `nginx`: render-config.sh reads it too. `internal`: set by the runner or the nginx
    image, not by a person, so .env.sample and README do not list it.
    """

    name: str
    default: str | None
    description: str
    field: str | None = None
    parse: Callable[[str, str], object] | None = None
    nginx: bool = False
    internal: bool = False

    @property
    def read_by_backend(self) -> bool:
        return self.field is not None


SETTINGS: tuple[Setting, ...] = (
    Setting("HTTP_BIND", "127.0.0.1", "the address nginx listens on", nginx=True),
    Setting("HTTP_PORT", "8080", "nginx's port", nginx=True),
    Setting("WEB_SERVER_WORKERS", "2", "Python worker processes", "workers", _integer(1, 64), nginx=True),
    Setting(
        "WEB_SERVER_START_PORT",
        "8001",
        "worker i listens on this port + i",
        "start_port",
        _integer(1, 65535),
        nginx=True,
    ),
    Setting("BIND_HOST", "127.0.0.1", "the workers' address", "bind_host", _host),
    Setting(
        "APP_UPSTREAMS",
        "",
        "many app nodes: the workers nginx spreads requests over, host:first_port per node (space-separated); "
        "empty: this machine's",
        nginx=True,
    ),
    Setting("IMAGES_DIR", "./images", "the image files, served by nginx as they are", "images_dir", _path, nginx=True),
    Setting(
        "STORAGE",
        "local",
        "where images live: local (IMAGES_DIR) or s3 (the S3_* bucket; IMAGES_DIR is then scratch space)",
        "storage",
        _storage,
        nginx=True,
    ),
    Setting("DATA_DIR", "./data", "the SQLite index; not inside IMAGES_DIR", "data_dir", _path),
    Setting(
        "DATABASE_URL",
        "",
        "empty: the index is SQLite in DATA_DIR; postgresql://user:password@host:5432/database: PostgreSQL",
        "database_url",
        _database_url,
    ),
    Setting("LOG_DIR", "./logs", "app.log and nginx's logs", "log_dir", _path, nginx=True),
    Setting(
        "MAX_UPLOAD_BYTES",
        "5242880",
        "largest file; nginx's body limit is derived from it",
        "max_upload_bytes",
        _integer(1, 1024 * MIB),
        nginx=True,
    ),
    Setting(
        "MAX_IMAGE_PIXELS",
        "50000000",
        "largest width x height (a GIF's or WebP's canvas, an AVIF's largest ispe)",
        "max_image_pixels",
        _integer(1, 10**12),
    ),
    Setting("UPLOAD_RATE_LIMIT", "2r/s", "uploads per client address, enforced by nginx", nginx=True),
    Setting("UPLOAD_RATE_BURST", "20", "uploads allowed above the rate", nginx=True),
    Setting("UPLOAD_TOKEN", "", "empty: anyone may upload; else the Bearer token uploads need", "upload_token", _token),
    Setting(
        "ADMIN_TOKEN", "", "empty: no admin; else the token that lists and deletes any image", "admin_token", _token
    ),
    Setting(
        "METRICS_TOKEN",
        "",
        "empty: /metrics needs no token (nginx still lets only METRICS_ALLOW reach it); else its Bearer token",
        "metrics_token",
        _token,
    ),
    Setting(
        "METRICS_ALLOW",
        "127.0.0.1",
        "addresses or CIDR ranges (space-separated) nginx lets reach /metrics, or all (then set METRICS_TOKEN)",
        "metrics_allow",
        _metrics_allow,
        nginx=True,
    ),
    Setting("GALLERY_PUBLIC", "false", "true: anyone may list the images", "gallery_public", _boolean),
    Setting("PUBLIC_BASE_URL", "", "the address people use, for the URLs in answers", "public_base_url", _base_url),
    Setting("ALLOWED_ORIGINS", "", "other sites whose pages may upload here", "allowed_origins", _origins),
    Setting(
        "STRIP_METADATA",
        "true",
        "false: images are served byte for byte as uploaded, GPS and camera fields included",
        "strip_metadata",
        _boolean,
    ),
    Setting(
        "DEFAULT_EXPIRY",
        "never",
        "how long an upload that names no expires_in is kept (e.g. 30d, or never)",
        "default_expiry",
        _duration,
    ),
    Setting(
        "MAX_EXPIRY",
        "never",
        "the longest expires_in an upload may ask for (e.g. 365d, or never: no limit)",
        "max_expiry",
        _duration,
    ),
    Setting(
        "PREVIEW_WORKERS",
        "1",
        "processes that make previews; 0 makes none (the page then shows placeholders)",
        "preview_workers",
        _integer(0, 64),
    ),
    Setting(
        "PREVIEW_MEMORY_MB",
        "1024",
        "memory a preview process may use; an image needing more gets no preview",
        "preview_memory_mb",
        _integer(64, 1024 * 1024),
    ),
    Setting(
        "PREVIEW_TIMEOUT",
        "20",
        "seconds a preview may take before its process is killed and the image gets none",
        "preview_timeout",
        _seconds,
    ),
    Setting("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR", "log_level", _log_level),
    Setting(
        "LOG_MAX_BYTES", "10485760", "app.log is rotated at this size", "log_max_bytes", _integer(4096, 1024 * MIB)
    ),
    Setting("LOG_BACKUPS", "5", "rotated files kept", "log_backups", _integer(0, 1000)),
    Setting(
        "SHUTDOWN_TIMEOUT", "10", "seconds a stopping worker waits for requests in flight", "shutdown_timeout", _seconds
    ),
    Setting(
        "UPSTREAM_HOST",
        "127.0.0.1",
        "where nginx reaches the workers (the runner: from BIND_HOST)",
        nginx=True,
        internal=True,
    ),
    Setting("FRONTEND_DIR", None, "the page's files (default: services/frontend)", nginx=True, internal=True),
    # STORAGE=s3: the app writes to the bucket, nginx serves /images/ from it (render-config.sh);
    # with direct uploads nginx lets the page connect to the bucket (its CSP's connect-src).
    Setting(
        "S3_ENDPOINT_URL",
        "",
        "STORAGE=s3: the S3 endpoint, for the app and for nginx (https://...)",
        "s3_endpoint_url",
        _endpoint_url,
        nginx=True,
    ),
    Setting("S3_BUCKET", "", "STORAGE=s3: the bucket", "s3_bucket", _bucket, nginx=True),
    Setting(
        "S3_KEY_PREFIX",
        "",
        "STORAGE=s3: put before every key (empty, or ending in /)",
        "s3_key_prefix",
        _key_prefix,
        nginx=True,
    ),
    Setting("S3_REGION", "us-east-1", "STORAGE=s3: the bucket's region", "s3_region", _text),
    Setting(
        "S3_ADDRESSING",
        "path",
        "STORAGE=s3: how the app addresses the bucket: path or virtual (nginx always uses path)",
        "s3_addressing",
        _addressing,
    ),
    Setting(
        "AWS_ACCESS_KEY_ID",
        "",
        "STORAGE=s3: the app's key (empty: boto3 finds one, e.g. an instance role)",
        "aws_access_key_id",
        _text,
    ),
    Setting("AWS_SECRET_ACCESS_KEY", "", "STORAGE=s3: its secret", "aws_secret_access_key", _text),
    Setting("S3_CACHE_MAX_SIZE", "1g", "STORAGE=s3: nginx's disk cache of images", nginx=True),
    Setting(
        "S3_DIRECT_UPLOADS",
        "false",
        "STORAGE=s3: true lets the page send files straight to the bucket (POST /api/uploads); /upload still works",
        "s3_direct_uploads",
        _boolean,
        nginx=True,
    ),
    Setting(
        "S3_PUBLIC_ENDPOINT_URL",
        "",
        "S3_DIRECT_UPLOADS: the bucket's endpoint as browsers reach it (empty: S3_ENDPOINT_URL)",
        "s3_public_endpoint_url",
        _endpoint_url,
        nginx=True,
    ),
)
SETTING_NAMES = frozenset(setting.name for setting in SETTINGS)
_BY_NAME = {setting.name: setting for setting in SETTINGS}


def default_of(name: str) -> str | None:
    """The default of setting `name` as written in .env; KeyError for an unknown name."""
    return _BY_NAME[name].default


def _default(name: str) -> Any:
    """The Config field default: setting `name`'s default, parsed."""
    setting = _BY_NAME[name]
    assert setting.parse is not None and setting.default is not None, f"{name} is not the backend's"
    return setting.parse(name, setting.default)


@dataclass(frozen=True)
class Config:
    """Every setting the backend reads, parsed; the defaults are SETTINGS's."""

    workers: int = _default("WEB_SERVER_WORKERS")
    start_port: int = _default("WEB_SERVER_START_PORT")
    bind_host: str = _default("BIND_HOST")
    images_dir: Path = _default("IMAGES_DIR")  # noqa: RUF009 (the registry, read once at import)
    storage: str = _default("STORAGE")
    data_dir: Path = _default("DATA_DIR")  # noqa: RUF009 (the registry, read once at import)
    log_dir: Path = _default("LOG_DIR")  # noqa: RUF009 (the registry, read once at import)
    database_url: str = _default("DATABASE_URL")
    max_upload_bytes: int = _default("MAX_UPLOAD_BYTES")
    max_image_pixels: int = _default("MAX_IMAGE_PIXELS")
    public_base_url: str = _default("PUBLIC_BASE_URL")
    allowed_origins: frozenset[str] = _default("ALLOWED_ORIGINS")
    upload_token: str = _default("UPLOAD_TOKEN")
    admin_token: str = _default("ADMIN_TOKEN")
    metrics_token: str = _default("METRICS_TOKEN")
    metrics_allow: tuple[str, ...] = _default("METRICS_ALLOW")
    gallery_public: bool = _default("GALLERY_PUBLIC")
    strip_metadata: bool = _default("STRIP_METADATA")
    default_expiry: int | None = _default("DEFAULT_EXPIRY")
    max_expiry: int | None = _default("MAX_EXPIRY")
    preview_workers: int = _default("PREVIEW_WORKERS")
    preview_memory_mb: int = _default("PREVIEW_MEMORY_MB")
    preview_timeout: float = _default("PREVIEW_TIMEOUT")
    log_level: str = _default("LOG_LEVEL")
    log_max_bytes: int = _default("LOG_MAX_BYTES")
    log_backups: int = _default("LOG_BACKUPS")
    shutdown_timeout: float = _default("SHUTDOWN_TIMEOUT")
    s3_endpoint_url: str = _default("S3_ENDPOINT_URL")
    s3_bucket: str = _default("S3_BUCKET")
    s3_key_prefix: str = _default("S3_KEY_PREFIX")
    s3_region: str = _default("S3_REGION")
    s3_addressing: str = _default("S3_ADDRESSING")
    aws_access_key_id: str = _default("AWS_ACCESS_KEY_ID")
    aws_secret_access_key: str = field(default=_default("AWS_SECRET_ACCESS_KEY"), repr=False)
    s3_direct_uploads: bool = _default("S3_DIRECT_UPLOADS")
    s3_public_endpoint_url: str = _default("S3_PUBLIC_ENDPOINT_URL")

    @cached_property
    def tmp_dir(self) -> Path:
        """Where uploads stream to: inside IMAGES_DIR so the final rename is atomic."""
        return self.images_dir / ".tmp"

    @property
    def max_body_bytes(self) -> int:
        """The largest request body nginx passes to a worker (its client_max_body_size)."""
        return self.max_upload_bytes + MULTIPART_ENVELOPE_BYTES

    @property
    def index_path(self) -> Path:
        """The SQLite index file (when DATABASE_URL is empty)."""
        return self.data_dir / "index.sqlite3"

    @property
    def index_location(self) -> str:
        """Where the index is, for messages: the SQLite file, or the database's host and
        name (never its password)."""
        if not self.database_url:
            return str(self.index_path)
        parts = urlsplit(self.database_url)
        return (
            f"the PostgreSQL database {parts.path.strip('/')} on {parts.hostname or 'localhost'}:{parts.port or 5432}"
        )

    @property
    def metrics_dir(self) -> Path:
        """Each process's metric files (metrics.py), emptied at every start."""
        return self.data_dir / "metrics"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "app.log"

    def port_of(self, worker_id: int) -> int:
        return self.start_port + worker_id


def load_config(environ: Mapping[str, str] | None = None, env_file: str | os.PathLike[str] | None = ".env") -> Config:
    """Build the Config from `environ` (default: the process environment) over `env_file`.

    Raises ConfigError naming the first variable whose value is unusable.
    """
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    fields: dict[str, Any] = {}  # each parser returns its field's type
    for setting in SETTINGS:
        if setting.field is not None and setting.parse is not None and setting.name in values:
            fields[setting.field] = setting.parse(setting.name, values[setting.name])
    config = Config(**fields)
    config = replace(
        config,
        images_dir=config.images_dir.resolve(),
        data_dir=config.data_dir.resolve(),
        log_dir=config.log_dir.resolve(),
    )
    _check_consistency(config)
    return config


def _check_consistency(config: Config) -> None:
    if config.max_expiry is not None and (config.default_expiry is None or config.default_expiry > config.max_expiry):
        raise ConfigError("DEFAULT_EXPIRY must not be longer than MAX_EXPIRY (with a MAX_EXPIRY, it cannot be never)")
    if config.start_port + config.workers - 1 > 65535:
        raise ConfigError("WEB_SERVER_START_PORT + WEB_SERVER_WORKERS - 1 must be at most 65535")
    if "all" in config.metrics_allow and not config.metrics_token:
        raise ConfigError("METRICS_ALLOW=all needs a METRICS_TOKEN: without one, anyone could read /metrics")
    if config.storage == "s3" and not (config.s3_endpoint_url and config.s3_bucket):
        raise ConfigError("STORAGE=s3 needs S3_ENDPOINT_URL and S3_BUCKET")
    if config.s3_direct_uploads and config.storage != "s3":
        raise ConfigError(
            "S3_DIRECT_UPLOADS=true needs STORAGE=s3: browsers send files straight to a bucket. "
            "With STORAGE=local, uploads go through POST /upload: set S3_DIRECT_UPLOADS=false"
        )
    # nginx serves IMAGES_DIR as it is: the index (and its delete-token hashes) must not be in it.
    if config.data_dir == config.images_dir or config.images_dir in config.data_dir.parents:
        raise ConfigError("DATA_DIR must not be inside IMAGES_DIR: nginx serves that folder")
