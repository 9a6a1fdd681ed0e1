"""The supervisor: a small arbiter in the manner of gunicorn's.

It locks the folders against a second instance, prepares them (private modes), migrates
and reconciles the index, binds every worker's
port itself (so a port that cannot be bound stops start-up with its number, and a
restarted worker finds connections waiting in the same backlog instead of a refused
port), forks the workers, relays their log lines, restarts any that die, and stops them
gracefully on SIGTERM/SIGINT. SIGHUP reopens LOG_DIR/app.log. It also watches the
index file: deleted or replaced under a running service, it is logged as an error. And
it runs the preview makers (preview_queue.py); SIGUSR1, which a worker sends after
storing an upload, makes it look for previews to make at once. And it sweeps expired
images away (expiry.py). With the index in PostgreSQL, a thread of its own listens for
every node's changes to it, so that workers may answer listings from memory between
them (listing_cache.py). With many nodes on one PostgreSQL index, each node's
supervisor does all of this, but the migrations, the reconcile and each sweep run on
one node at a time (Index.leading; README, "Many nodes").

Signal handlers do nothing but wake the main loop (through `signal.set_wakeup_fd`); all
the work happens in the loop.
"""

from __future__ import annotations

import functools
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loguru import logger

from . import index, logs, metrics, storage, version, worker_process
from .config import Config
from .errors import InsufficientStorage, Unavailable
from .expiry import Sweeper
from .instance_lock import InstanceLocked, lock_folders
from .object_store import open_store
from .preview_queue import PreviewQueue
from .reconcile import ReconcileRefused, reconcile

if TYPE_CHECKING:
    from .listing_cache import ChangeListener

# A worker that lived at least this long is healthy again: its next death restarts at once.
HEALTHY_AFTER_SECONDS = 10.0
MAX_RESTART_DELAY = 10.0
LISTEN_BACKLOG = 1024
LOOP_TICK = 0.5
# Files and folders the service creates are private unless given a mode on purpose
# (IMAGES_DIR 0755 and the images 0644, for nginx). This covers what we do not create
# ourselves: SQLite's -wal and -shm files, loguru's new and rotated app.log.
UMASK = 0o077


class StartupError(Exception):
    """Start-up cannot go on; the message says why (and names the port, for a bind)."""


@dataclass
class Slot:
    """Worker `worker_id`'s place: its port, its process, and its restart history."""

    worker_id: int
    listener: socket.socket
    pid: int | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = field(default=0.0)


class Supervisor:
    def __init__(self, config: Config):
        self.config = config
        self.slots: list[Slot] = []
        self.stopping = False
        self.halt_reason: str | None = None
        self._wakeup_r = self._wakeup_w = -1
        # The workers' log channel, made by run() before the first worker starts.
        self._log_receiver: socket.socket
        self._log_sender: socket.socket
        self._log_file_sink: int | None = None
        self._reopen_log = False
        self._folder_locks: list[int] = []  # held until the process ends; workers inherit them
        # Imports the PostgreSQL index, and with it the listing cache's shared memory,
        # before any fork (listing_cache.py).
        self._index = index.engine(config)
        self._index_changes: ChangeListener | None = None
        self._index_state = "ok"
        # The supervisor's own store (each worker opens its own after the fork).
        self.store = open_store(config)
        self.previews = PreviewQueue(config, self.store)
        self.sweeper = Sweeper(config, self.store)

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the process exit code (0 after a clean stop).

        1 when start-up fails (another instance holds the folders, a folder cannot be
        created or locked, a port cannot be bound), after logging why.
        """
        config = self.config
        os.umask(UMASK)
        logs.setup_supervisor_logging(config)
        try:
            # First: a second instance must not touch the folders at all.
            storage.make_public_folder(config.images_dir)  # before its lock file goes in
            self._folder_locks = lock_folders(config.data_dir, config.images_dir, config.shutdown_timeout + 2.0)
            storage.prepare_directories(config.images_dir, config.tmp_dir, config.data_dir, config.log_dir)
            _make_files_private(config)
            # Before any process counts anything, and before the fork: see metrics.py.
            metrics.use_folder(config.metrics_dir)
            self._log_file_sink = logs.open_log_file(config)
            self._index.migrate()
            reconcile(config, store=self.store)
            self._bind_all()
        except (
            StartupError,
            InstanceLocked,
            ReconcileRefused,
            index.IndexFileError,
            metrics.MetricsFolderError,
        ) as exc:
            logger.error("{}", exc)
            return 1
        except (Unavailable, InsufficientStorage) as exc:  # what the store said is logged already
            logger.error("cannot start: the image store could not be listed ({})", exc)
            return 1
        except OSError as exc:  # a folder or file we cannot create, lock or change
            logger.error("cannot start: {}", exc)
            return 1
        self._listen_for_index_changes()
        # Once, before any signal handler or worker: it may run git, and workers inherit it.
        running = version.about()
        self._log_receiver, self._log_sender = logs.make_log_channel()
        self._install_signal_handlers()
        logger.info(
            "supervisor (pid {}) of imagehost {} (commit {}, Python {}) starting {} workers on {}:{}-{}",
            os.getpid(),
            running["version"],
            running["commit"][:12],
            running["python"],
            config.workers,
            config.bind_host,
            config.start_port,
            config.port_of(config.workers - 1),
        )
        while not self.stopping:
            self._start_due_workers()
            ready = self._wait_for_more_than_log_lines(
                self.sweeper.next_timeout(self.previews.next_timeout(self._next_timeout()))
            )
            self._reap()
            self._tend("the preview queue", functools.partial(self.previews.tick, ready))
            self._tend("the expiry sweep", self.sweeper.tick)
            self._watch_index()
            if self._reopen_log:
                self._reopen_log_file()
        self._stop_workers()
        if self._index_changes is not None:
            self._index_changes.stop()
        self.previews.stop()
        self.sweeper.close()
        if self.halt_reason:
            logger.error("stopped: {}", self.halt_reason)
            return 1
        logger.info("supervisor stopped")
        return 0

    def _listen_for_index_changes(self) -> None:
        """With the index in PostgreSQL: a thread that hears of every node's writes, so
        the workers may answer listings from memory between them (listing_cache.py)."""
        if not self.config.database_url:
            return
        from .listing_cache import ChangeListener  # noqa: PLC0415 (see index.engine)

        self._index_changes = ChangeListener(self.config.database_url)
        self._index_changes.start()

    @staticmethod
    def _tend(what: str, turn: Callable[[], None]) -> None:
        """A side job's turn (previews, expiry). Neither is worth the service: a bug in
        one is logged, and serving goes on."""
        try:
            turn()
        except Exception:  # noqa: BLE001
            logger.exception("{} failed; it tries again at its next turn", what)

    def _reopen_log_file(self) -> None:
        """After SIGHUP: close app.log and open the path again (logrotate has moved it)."""
        self._reopen_log = False
        try:
            self._log_file_sink = logs.open_log_file(self.config, self._log_file_sink)
        except OSError as exc:
            self._log_file_sink = None
            logger.error("SIGHUP: cannot reopen {}: {}; a later SIGHUP tries again", self.config.log_file, exc)
            return
        logger.info("SIGHUP: reopened {}", self.config.log_file)

    def _watch_index(self) -> None:
        """Log an error once when the index goes missing or is replaced (SQLite's file:
        a stat per tick)."""
        state = self._index.state()
        if state == self._index_state:
            return
        self._index_state = state
        if state == "ok":
            logger.info("the index is back")
        else:
            logger.error(
                "{}: uploads are refused (503) until it is restored and the service restarted",
                self._index.describe(state),
            )

    def _bind_all(self) -> None:
        for worker_id in range(self.config.workers):
            port = self.config.port_of(worker_id)
            try:
                listener = socket.create_server((self.config.bind_host, port), backlog=LISTEN_BACKLOG)
            except OSError as exc:
                for slot in self.slots:
                    slot.listener.close()
                raise StartupError(
                    f"cannot listen on {self.config.bind_host}:{port} (port {port}, worker {worker_id}: "
                    f"WEB_SERVER_START_PORT + {worker_id}): {exc.strerror or exc}"
                ) from None
            self.slots.append(Slot(worker_id, listener))

    def _install_signal_handlers(self) -> None:
        self._wakeup_r, self._wakeup_w = os.pipe()
        os.set_blocking(self._wakeup_r, False)
        os.set_blocking(self._wakeup_w, False)
        signal.set_wakeup_fd(self._wakeup_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, lambda *_: None)  # the wakeup fd carries the signal number

    def _wait_for_more_than_log_lines(self, timeout: float) -> list[int]:
        """_wait until something other than log lines needs a turn of the loop: a signal,
        a maker's answer, or `timeout`. Under load the workers' lines arrive a thousand
        times a second, and a whole turn (reaping, the side jobs' ticks, a stat of the
        index) for each cost more CPU than relaying the lines."""
        deadline = time.monotonic() + timeout
        while True:
            ready, woken = self._wait(max(0.0, deadline - time.monotonic()))
            if woken or ready or self.stopping or time.monotonic() >= deadline:
                return ready

    def _wait(self, timeout: float) -> tuple[list[int], bool]:
        """Sleep until a signal, a log line, a preview maker's answer or `timeout`;
        handle the signals and log lines. Returns the makers' descriptors that are ready,
        and whether a signal came."""
        watched: list[int | socket.socket] = [self._wakeup_r, self._log_receiver, *self.previews.readable()]
        try:
            ready, _, _ = select.select(watched, [], [], timeout)
        except InterruptedError:
            ready = []
        if self._log_receiver in ready:
            logs.relay_worker_lines(self._log_receiver)
        if self._wakeup_r in ready:
            for signum in self._read_signals():
                if signum in (signal.SIGTERM, signal.SIGINT) and not self.stopping:
                    logger.info("supervisor: {} received, stopping gracefully", signal.Signals(signum).name)
                    self.stopping = True
                elif signum == signal.SIGHUP:
                    self._reopen_log = True  # done in the loop, not in the middle of a relay
                elif signum == signal.SIGUSR1:
                    self.previews.wake()
        return [fd for fd in ready if isinstance(fd, int) and fd != self._wakeup_r], self._wakeup_r in ready

    def _read_signals(self) -> bytes:
        try:
            return os.read(self._wakeup_r, 64)
        except BlockingIOError:
            return b""

    def _next_timeout(self) -> float:
        due = [slot.restart_at for slot in self.slots if slot.pid is None and slot.restart_at is not None]
        if not due:
            return LOOP_TICK
        return max(0.0, min(LOOP_TICK, min(due) - time.monotonic()))

    def _start_due_workers(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.pid is None and slot.restart_at is not None and slot.restart_at <= now:
                self._spawn(slot)

    def _spawn(self, slot: Slot) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                self._become_worker(slot)
                code = worker_process.run(slot.worker_id, slot.listener, self.config, self._log_sender)
            except BaseException:  # noqa: BLE001 (the child must reach os._exit, whatever happened)
                traceback.print_exc()
            finally:
                os._exit(code)
        slot.pid, slot.started_at, slot.restart_at = pid, time.monotonic(), None
        logger.info("worker {} started (pid {}, port {})", slot.worker_id, pid, self.config.port_of(slot.worker_id))

    def _become_worker(self, own: Slot) -> None:
        """In the child: drop the supervisor's signal plumbing and other workers' sockets."""
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        # Ctrl-C and a terminal's hang-up reach the whole process group; the supervisor
        # alone decides to stop (a worker stopping on its own would be restarted).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        self.previews.close_in_child()
        os.close(self._wakeup_r)
        os.close(self._wakeup_w)
        self._log_receiver.close()
        for slot in self.slots:
            if slot is not own:
                slot.listener.close()

    def _reap(self) -> None:
        """Collect every exited worker (waitpid WNOHANG) and schedule its restart."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.previews.reaped(pid, status):
                continue
            slot = next((s for s in self.slots if s.pid == pid), None)
            if slot is None:
                continue
            self._worker_exited(slot, pid, status)

    def _worker_exited(self, slot: Slot, pid: int, status: int) -> None:
        # What the dead worker was uploading will never finish; its files carry its pid.
        storage.remove_temp_files_of(self.config.tmp_dir, pid)
        metrics.process_gone(pid, self.config.metrics_dir)
        slot.pid = None
        code = os.waitstatus_to_exitcode(status)
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        if self.stopping:
            logger.info("worker {} exited ({})", slot.worker_id, how)
            return
        if code == worker_process.EXIT_BOOT_ERROR:
            state = self._index.state()
            why = f": {self._index.describe(state)}" if state != "ok" else ""
            self.halt_reason = f"worker {slot.worker_id} could not start{why} (see the lines above)"
            self.stopping = True
            return
        lived = time.monotonic() - slot.started_at
        slot.quick_deaths = 0 if lived >= HEALTHY_AFTER_SECONDS else slot.quick_deaths + 1
        delay = 0.0 if slot.quick_deaths <= 1 else min(MAX_RESTART_DELAY, 0.25 * 2 ** (slot.quick_deaths - 2))
        slot.restart_at = time.monotonic() + delay
        logger.warning("worker {} died ({}) after {:.1f}s; restarting in {:.2f}s", slot.worker_id, how, lived, delay)

    def _stop_workers(self) -> None:
        """SIGTERM every worker, wait up to SHUTDOWN_TIMEOUT (+1 s) for them, then SIGKILL.

        The supervisor's copies of the listening sockets close first: once each worker
        closes its own, the port refuses new connections (nginx moves on) instead of
        queueing them where nobody will accept them.
        """
        for slot in self.slots:
            slot.listener.close()
        self._signal_workers(signal.SIGTERM)
        deadline = time.monotonic() + self.config.shutdown_timeout + 1.0
        while any(slot.pid for slot in self.slots) and time.monotonic() < deadline:
            self._wait(0.1)
            self._reap()
        if any(slot.pid for slot in self.slots):
            logger.warning("workers still running after {}s; killing them", self.config.shutdown_timeout)
            self._signal_workers(signal.SIGKILL)
            while any(slot.pid for slot in self.slots):
                self._wait(0.05)
                self._reap()
        while logs.relay_worker_lines(self._log_receiver) == logs.MAX_LINES_PER_RELAY:
            pass  # every line the workers sent, to the last

    def _signal_workers(self, signum: int) -> None:
        for slot in self.slots:
            if slot.pid:
                try:
                    os.kill(slot.pid, signum)
                except ProcessLookupError:
                    pass


def _make_files_private(config: Config) -> None:
    """Files made before the umask was ours (an older version, another tool) become 0600."""
    for path in (*config.data_dir.glob("index.sqlite3*"), *config.log_dir.glob("app*.log")):
        os.chmod(path, 0o600)


def main(config: Config) -> int:
    try:
        return Supervisor(config).run()
    except KeyboardInterrupt:
        return 0
    finally:
        sys.stderr.flush()
