"""Running an async command under the CLI contract: Ctrl-C and SIGTERM abort, bad input exits 2.

A command's process does one job, so the garbage collector is tuned for it: what start-up built
(modules, models, the catalog) is frozen out of the collector's passes, and the youngest
generation is collected every 10,000 net allocations instead of 700. A sync allocates millions of
short-lived objects (every page's JSON); with the defaults, collecting them and rescanning the
long-lived ones cost about a tenth of its CPU.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import gc
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from types import FrameType

from stripe_sync.cli import exit_codes
from stripe_sync.protocol.errors import ConfigError, SyncError

GC_YOUNG_THRESHOLD = 10_000
ABORT_DEADLINE_S = 10.0
"""Seconds a command has after the first Ctrl-C or SIGTERM to flush, save and end."""
EXIT_GRACE_S = 5.0
"""Seconds after the deadline's forced stop before the process exits whatever still runs."""


def tune_gc() -> None:
    """Freeze the start-up objects and collect the young generation less often (see above)."""
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(GC_YOUNG_THRESHOLD, young), middle, old)


def run_command(main: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run ``main(abort)``; the first Ctrl-C or SIGTERM sets ``abort``, a second one stops at once.

    After the first signal the command has ``ABORT_DEADLINE_S`` to finish; past it, it stops as if
    a second signal came (even when the event loop is blocked), and ``EXIT_GRACE_S`` later the
    process exits whatever still runs (4). Returns the exit code; ConfigError prints one line and
    gives 2, other protocol errors 5.
    """

    async def runner() -> int:
        abort = asyncio.Event()
        loop = asyncio.get_running_loop()

        def interrupted(signum: int, frame: FrameType | None) -> None:
            if stopping.is_set():
                raise KeyboardInterrupt
            stopping.set()
            # a raw write: the interrupted code may be inside a buffered write to stderr
            _say("stripe-sync: stopping (Ctrl-C again to stop at once)")
            loop.call_soon_threadsafe(abort.set)
            threading.Thread(target=_hard_deadline, args=(signum, finished), daemon=True).start()

        stopping = threading.Event()
        previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return await main(abort)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    finished = threading.Event()
    tune_gc()
    if hasattr(signal, "pthread_sigmask"):  # a mask inherited from the parent would hold them back
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        return asyncio.run(runner())
    except ConfigError as exc:
        print(f"stripe-sync: {exc}", file=sys.stderr)
        return exit_codes.USAGE_ERROR
    except SyncError as exc:
        print(f"stripe-sync: {exc}", file=sys.stderr)
        return exit_codes.FINISHED_WITH_ERRORS
    except KeyboardInterrupt:
        return exit_codes.ABORTED
    finally:
        finished.set()


def _hard_deadline(signum: int, finished: threading.Event) -> None:
    """Stop the command if it has not finished ``ABORT_DEADLINE_S`` after the first signal."""
    if finished.wait(ABORT_DEADLINE_S):
        return
    _say("stripe-sync: not stopped in time, stopping at once")
    # runs the handler again in the main thread, which raises KeyboardInterrupt there
    _thread.interrupt_main(signal.Signals(signum))
    if finished.wait(EXIT_GRACE_S):
        return
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os._exit(exit_codes.ABORTED)


def _say(line: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, line.encode() + b"\n")
