"""Settings: one frozen dataclass, built and validated once at start-up.

Values come from the process environment, falling back to a `.env` file, falling back
to the defaults below. Nothing else in the package reads `os.environ`: the `Config` is
passed to whoever needs it. `.env.sample` documents every variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from .web import origin_of

MIB = 1024 * 1024
# Room for the multipart envelope (boundaries, part headers) around a file of exactly
# MAX_UPLOAD_BYTES. nginx's client_max_body_size is MAX_UPLOAD_BYTES plus this
# (services/nginx/render-config.sh; tests/integration/test_nginx_config.py checks the copy).
MULTIPART_ENVELOPE_BYTES = 64 * 1024


class ConfigError(ValueError):
    """A setting has a value the service cannot use; the message names the variable."""


@dataclass(frozen=True)
class Config:
    workers: int = 2
    start_port: int = 8001
    bind_host: str = "127.0.0.1"
    images_dir: Path = Path("images")
    data_dir: Path = Path("data")
    log_dir: Path = Path("logs")
    max_upload_bytes: int = 5 * MIB
    max_image_pixels: int = 50_000_000
    public_base_url: str = ""
    allowed_origins: frozenset[str] = frozenset()
    upload_token: str = ""
    admin_token: str = ""
    gallery_public: bool = False
    log_level: str = "INFO"
    log_max_bytes: int = 10 * MIB
    log_backups: int = 5
    shutdown_timeout: float = 10.0

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
        return self.data_dir / "index.sqlite3"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "app.log"

    def port_of(self, worker_id: int) -> int:
        return self.start_port + worker_id


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
    return Path(raw.strip()).resolve()


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


def _log_level(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"{name} must be one of DEBUG, INFO, WARNING, ERROR, got {raw!r}")
    return value


# variable -> (Config field, parser). The one list of what the backend reads.
_VARIABLES: dict[str, tuple[str, Callable[[str, str], object]]] = {
    "WEB_SERVER_WORKERS": ("workers", _integer(1, 64)),
    "WEB_SERVER_START_PORT": ("start_port", _integer(1, 65535)),
    "BIND_HOST": ("bind_host", _host),
    "IMAGES_DIR": ("images_dir", _path),
    "DATA_DIR": ("data_dir", _path),
    "LOG_DIR": ("log_dir", _path),
    "MAX_UPLOAD_BYTES": ("max_upload_bytes", _integer(1, 1024 * MIB)),
    "MAX_IMAGE_PIXELS": ("max_image_pixels", _integer(1, 10**12)),
    "PUBLIC_BASE_URL": ("public_base_url", _base_url),
    "ALLOWED_ORIGINS": ("allowed_origins", _origins),
    "UPLOAD_TOKEN": ("upload_token", _token),
    "ADMIN_TOKEN": ("admin_token", _token),
    "GALLERY_PUBLIC": ("gallery_public", _boolean),
    "LOG_LEVEL": ("log_level", _log_level),
    "LOG_MAX_BYTES": ("log_max_bytes", _integer(4096, 1024 * MIB)),
    "LOG_BACKUPS": ("log_backups", _integer(0, 1000)),
    "SHUTDOWN_TIMEOUT": ("shutdown_timeout", _seconds),
}


def load_config(environ: Mapping[str, str] | None = None, env_file: str | os.PathLike[str] | None = ".env") -> Config:
    """Build the Config from `environ` (default: the process environment) over `env_file`.

    Raises ConfigError naming the first variable whose value is unusable.
    """
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    fields: dict[str, Any] = {}  # each parser returns its field's type
    for variable, (field, parse) in _VARIABLES.items():
        if variable in values:
            fields[field] = parse(variable, values[variable])
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
    if config.start_port + config.workers - 1 > 65535:
        raise ConfigError("WEB_SERVER_START_PORT + WEB_SERVER_WORKERS - 1 must be at most 65535")
    # nginx serves IMAGES_DIR as it is: the index (and its delete-token hashes) must not be in it.
    if config.data_dir == config.images_dir or config.images_dir in config.data_dir.parents:
        raise ConfigError("DATA_DIR must not be inside IMAGES_DIR: nginx serves that folder")
