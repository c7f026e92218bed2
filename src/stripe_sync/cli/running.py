"""Running an async command under the CLI contract: Ctrl-C aborts, bad input exits 2."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

from stripe_sync.cli import exit_codes
from stripe_sync.protocol.errors import ConfigError, SyncError


def run_command(main: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run ``main(abort)``; the first Ctrl-C sets ``abort``, a second one stops at once.

    Returns the exit code; ConfigError prints one line and gives 2, other protocol errors 5.
    """

    async def runner() -> int:
        abort = asyncio.Event()
        loop = asyncio.get_running_loop()

        def interrupted() -> None:
            if abort.is_set():
                raise KeyboardInterrupt
            print("stripe-sync: stopping (Ctrl-C again to stop at once)", file=sys.stderr)
            abort.set()

        loop.add_signal_handler(signal.SIGINT, interrupted)
        loop.add_signal_handler(signal.SIGTERM, interrupted)
        return await main(abort)

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
