"""How a SQLite lease tells whether its holder is still there: a process's identity."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from stripe_sync.destinations.sqlite.lease import process_identity


def test_a_running_process_has_an_identity_a_killed_one_none() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        alive = process_identity(child.pid)
        assert alive and alive == process_identity(child.pid)
        assert alive != process_identity(os.getpid())  # another start time
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process_identity(child.pid) is not None:  # killed, not reaped yet: gone too
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        child.kill()
        child.wait()
    assert process_identity(child.pid) is None
