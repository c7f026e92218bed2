"""Exit codes of every `stripe-sync` command (the CLI contract in docs/cli.md)."""

from __future__ import annotations

DONE = 0
INTERNAL_ERROR = 1
USAGE_ERROR = 2
LIMIT_REACHED = 3
ABORTED = 4
FINISHED_WITH_ERRORS = 5
DIFFERENCES_FOUND = 6
