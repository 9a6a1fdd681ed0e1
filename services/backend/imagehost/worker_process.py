"""One worker process: opens its own index, serves HTTP on the listening socket the
supervisor bound (worker.WorkerServer, routed by the table in routes.py), and stops
gracefully on SIGTERM or when the supervisor is gone.

Graceful stop: stop accepting, close idle keep-alive connections, let requests in
flight finish (at most SHUTDOWN_TIMEOUT), then exit 0.
"""

from __future__ import annotations

import os
import signal
import socket
import threading

from loguru import logger

from . import logs
from .config import Config
from .handlers import App
from .index import IndexFileError, open_index
from .object_store import open_store
from .router import Router
from .routes import ROUTES
from .worker import WorkerServer

# A worker that fails before serving exits with this, and the supervisor halts instead
# of restarting it in a loop (gunicorn's WORKER_BOOT_ERROR).
EXIT_BOOT_ERROR = 3


def run(worker_id: int, listener: socket.socket, config: Config, log_sender: socket.socket) -> int:
    """Serve on `listener` until SIGTERM/SIGINT or the supervisor's death; returns the exit code."""
    logs.setup_worker_logging(log_sender, worker_id, config.log_level)
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    supervisor_pid = os.getppid()
    try:
        index = open_index(config)
        app = App(
            config,
            index,
            worker_id,
            ask_for_previews=lambda: _wake_supervisor(supervisor_pid),
            store=open_store(config),  # this process's own (its client, its connections)
        )
        server = WorkerServer(listener, app, Router(ROUTES))
    except IndexFileError as exc:  # the message says it all; no traceback needed
        logger.error("worker {} could not start: {}", worker_id, exc)
        return EXIT_BOOT_ERROR
    except Exception:  # noqa: BLE001 (a worker that cannot boot halts the supervisor)
        logger.exception("worker {} could not start", worker_id)
        return EXIT_BOOT_ERROR

    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="serve")
    serving.start()
    logger.info("worker {} (pid {}) serving on {}:{}", worker_id, os.getpid(), *listener.getsockname()[:2])
    while not stop_requested.wait(0.5):
        if os.getppid() != supervisor_pid:
            logger.warning("worker {}: the supervisor is gone; stopping", worker_id)
            break
    finished = server.stop(config.shutdown_timeout)
    serving.join()
    index.close()
    if finished:
        logger.info("worker {} stopped", worker_id)
    else:
        logger.warning("worker {} stopped with requests still running after {}s", worker_id, config.shutdown_timeout)
    return 0


def _wake_supervisor(supervisor_pid: int) -> None:
    """SIGUSR1 to the supervisor (previews are waiting), while it is still our parent:
    once it is gone, its pid may be another process's."""
    if os.getppid() == supervisor_pid:
        os.kill(supervisor_pid, signal.SIGUSR1)
