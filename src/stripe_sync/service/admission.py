"""Bounded parallelism of a platform pipeline: which connected accounts' children may start.

The platform pipeline's workflow admits accounts in list order; an admitted account's child holds
a backfill slot until it reports that its first backfill is over (it went ``live``, or parked in
``error``); then the next account is admitted. Later backfills of a child (``sync_now``, stream
retries) are incremental and hold no slot. Plain standard-library code, safe inside the workflow
sandbox; carried across continue-as-new.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FIRST_BACKFILL_OVER = frozenset({"live", "error"})


@dataclass
class Admission:
    listed: list[str] = field(default_factory=list)
    """Every account ever listed, in list order (an account no longer listed keeps its child)."""
    admitted: list[str] = field(default_factory=list)
    """Accounts whose child was started."""
    finished: list[str] = field(default_factory=list)
    """Admitted accounts whose first backfill is over."""

    def add_listed(self, accounts: list[str]) -> list[str]:
        """Remember newly listed accounts (after the known ones); returns the new ones."""
        known = set(self.listed)
        new = [account for account in dict.fromkeys(accounts) if account not in known]
        self.listed.extend(new)
        return new

    def backfilling(self) -> list[str]:
        """Admitted accounts still in their first backfill: the slots taken."""
        done = set(self.finished)
        return [account for account in self.admitted if account not in done]

    def to_admit(self, max_parallel: int) -> list[str]:
        """The next accounts to start, in list order, so that at most ``max_parallel`` backfill."""
        free = max(0, max_parallel - len(self.backfilling()))
        started = set(self.admitted)
        return [account for account in self.listed if account not in started][:free]

    def admit(self, account: str) -> None:
        if account not in self.admitted:
            self.admitted.append(account)

    def report(self, account: str, status: str) -> None:
        """A child's status: its slot frees once its first backfill is over."""
        over = status in FIRST_BACKFILL_OVER and account in self.admitted
        if over and account not in self.finished:
            self.finished.append(account)

    @property
    def complete(self) -> bool:
        """Every listed account finished its first backfill."""
        return set(self.listed) <= set(self.finished)
