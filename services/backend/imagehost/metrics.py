"""Prometheus metrics: what the processes count, and the /metrics page that adds it up.

Every process (the supervisor and each worker) writes its own counters and histograms
to files in the metrics folder (DATA_DIR/metrics), through prometheus_client's
multiprocess mode: an increment is a write to an mmap, under a lock held for that write
only, never across a request. The worker that answers a scrape reads every process's
files and adds them up, so any worker answers for all of them, dead ones included (a
restarted worker's totals are not lost). https://prometheus.github.io/client_python/multiprocess/

The trap: prometheus_client chooses between in-process values and the files when it is
first imported, from PROMETHEUS_MULTIPROC_DIR. So this module imports it only inside
functions, and the supervisor calls `use_folder` before anything else does; the workers
inherit the choice through the fork. Without `use_folder` (unit tests), the values live
in the process, and the page shows that process's own.

What is counted, every name with the `imagehost_` prefix (docs/api.md lists them):
requests by route pattern, method and status; refusals by route and error code;
request latency by route; bytes stored by uploads (a counter and a size histogram);
storage errors by kind; previews made and failed. Images and bytes stored and the
previews waiting are read from the index at scrape time (`IndexCollector`): they are
facts about the index, not about a process.

Label values are bounded: the route is its pattern in routes.py ("/api/images/{name}"),
"unmatched" for a path no route has, "unrouted" for a request refused before routing.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from . import auth
from .errors import AppError, Forbidden, InsufficientStorage, Unauthorized
from .web import Response

if TYPE_CHECKING:
    from .handlers import App
    from .index import Index
    from .web import Request

ENVIRONMENT_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"
UNROUTED = "unrouted"
# Methods with a do_ method in worker.RequestHandler; anything else is counted as OTHER.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# 1 KiB to 1 GiB (MAX_UPLOAD_BYTES's ceiling), by factors of 4.
UPLOAD_SIZE_BUCKETS = tuple(1024 * 4**n for n in range(11))


class MetricsFolderError(RuntimeError):
    """prometheus_client was imported before the metrics folder was set: its counters
    would stay in each process, and the page would show one worker's."""


def use_folder(folder: Path) -> None:
    """Make `folder` (private, emptied) the metrics folder of this process and its
    children. Call once in the supervisor before any metric is touched.

    Raises OSError when the folder cannot be made or emptied, MetricsFolderError when
    prometheus_client is already in use without it.
    """
    if folder.is_dir():
        shutil.rmtree(folder)  # another run's files: its counters are not this run's
    folder.mkdir(mode=0o700, parents=True)
    os.chmod(folder, 0o700)  # whatever the umask
    os.environ[ENVIRONMENT_VARIABLE] = str(folder)  # read by prometheus_client, not by us
    if not _in_files():
        raise MetricsFolderError("prometheus_client was imported before the metrics folder was set")


def _in_files() -> bool:
    """Whether prometheus_client keeps its values in the metrics folder (`use_folder`)."""
    from prometheus_client import values  # noqa: PLC0415 (only now: see the module's docstring)

    return bool(getattr(values.ValueClass, "_multiprocess", False))


def process_gone(pid: int, folder: Path) -> None:
    """After the supervisor reaps a worker: drop its live gauges (its counters stay)."""
    if _in_files():
        from prometheus_client import multiprocess  # noqa: PLC0415 (after use_folder)

        multiprocess.mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]


_making = threading.Lock()
_made: dict[str, Any] = {}


def _metrics() -> dict[str, Any]:
    """The metric objects, made on first use (after `use_folder`, in the supervisor).

    Under a lock: the first requests of a fresh worker arrive on several threads at once,
    and a second registration of the same name raises (it did, as a 500, under load)."""
    if not _made:
        with _making:
            if not _made:
                _made.update(_new_metrics())
    return _made


def _new_metrics() -> dict[str, Any]:
    from prometheus_client import Counter, Histogram  # noqa: PLC0415 (after use_folder)

    return {
        "requests": Counter(
            "imagehost_requests", "Requests answered, by route pattern, method and status.", ["route", "method", "code"]
        ),
        "refusals": Counter(
            "imagehost_refusals", "Requests refused, by route pattern and error code.", ["route", "code"]
        ),
        "latency": Histogram(
            "imagehost_request_duration_seconds",
            "Time from the request line until the answer is ready to send, by route.",
            ["route"],
        ),
        "upload_bytes": Counter("imagehost_upload_bytes", "Bytes of the images uploads stored."),
        "upload_sizes": Histogram(
            "imagehost_upload_size_bytes", "Sizes of the images uploads stored.", buckets=UPLOAD_SIZE_BUCKETS
        ),
        "storage_errors": Counter(
            "imagehost_storage_errors",
            "Requests failed by the disk: disk_full (507), io_error (an fsync or other I/O error, a 500).",
            ["kind"],
        ),
        "previews": Counter("imagehost_previews", "Preview jobs finished, by outcome (ready, failed).", ["outcome"]),
    }


def request_answered(route: str, method: str, status: int, seconds: float | None, error: BaseException | None) -> None:
    """Count one answered request; `error` is what the handler raised, if anything.
    `seconds` is None for a request refused before it was read whole (no latency)."""
    metrics = _metrics()
    method = method if method in METHODS else "OTHER"
    metrics["requests"].labels(route, method, str(int(status))).inc()
    if seconds is not None:
        metrics["latency"].labels(route).observe(seconds)
    if isinstance(error, AppError):
        metrics["refusals"].labels(route, error.code).inc()
    kind = _storage_error_kind(error)
    if kind:
        metrics["storage_errors"].labels(kind).inc()


def _storage_error_kind(error: BaseException | None) -> str | None:
    if isinstance(error, InsufficientStorage):
        return "disk_full"
    # An OSError that escaped a handler: an fsync, a write or a read of the disk that
    # failed. (A client that left is ClientGone, caught before; these two are not the disk.)
    if isinstance(error, OSError) and not isinstance(error, (ConnectionError, TimeoutError)):
        return "io_error"
    return None


def upload_stored(size: int) -> None:
    metrics = _metrics()
    metrics["upload_bytes"].inc(size)
    metrics["upload_sizes"].observe(size)


def preview_finished(outcome: str) -> None:
    """Count a preview job's outcome ('ready' or 'failed'); in the supervisor."""
    _metrics()["previews"].labels(outcome).inc()


class IndexCollector:
    """Gauges read from the index at scrape time: images and bytes stored, previews waiting.

    A failing index read leaves them out of the page (the counters still show) rather
    than failing the scrape.
    """

    def __init__(self, index: Index):
        self._index = index

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily  # noqa: PLC0415 (after use_folder)

        try:
            images, stored, pending = self._index.gauges()
        except Exception as exc:  # noqa: BLE001 (either engine's errors: the scrape goes on without these)
            logger.warning("/metrics: the index's gauges are left out: {}", exc)
            return
        yield GaugeMetricFamily("imagehost_images", "Images in the index.", value=images)
        yield GaugeMetricFamily(
            "imagehost_stored_bytes", "Bytes of image files stored (identical images count once).", value=stored
        )
        yield GaugeMetricFamily(
            "imagehost_previews_pending", "Images whose preview is still to be made.", value=pending
        )


def scrape(request: Request, app: App) -> Response:
    """GET /metrics: every process's metrics in the Prometheus text format.

    With METRICS_TOKEN set it needs `Authorization: Bearer <METRICS_TOKEN>`:
    Unauthorized (401) without it, Forbidden (403) with another.
    """
    from prometheus_client import (  # noqa: PLC0415 (after use_folder)
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )

    _require_metrics_token(request, app.config.metrics_token)
    _metrics()  # so that a fresh worker's page names every metric
    registry = CollectorRegistry()
    if _in_files():
        multiprocess.MultiProcessCollector(registry, path=str(app.config.metrics_dir))  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessMetrics(REGISTRY))
    registry.register(IndexCollector(app.index))
    return Response(HTTPStatus.OK, generate_latest(registry), CONTENT_TYPE_LATEST)


class _ProcessMetrics:
    """This process's own metrics (no metrics folder: unit tests)."""

    def __init__(self, registry: Any):
        self._registry = registry

    def collect(self) -> Iterator[Any]:
        yield from self._registry.collect()


def _require_metrics_token(request: Request, metrics_token: str) -> None:
    if not metrics_token:
        return
    token = auth.bearer_token(request.header("Authorization"))
    if token is None:
        raise Unauthorized("The metrics need the metrics token: send 'Authorization: Bearer <METRICS_TOKEN>'.")
    if not auth.same_secret(token, metrics_token):
        raise Forbidden("That metrics token is not valid.")
