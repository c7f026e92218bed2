"""stripe-sync-engine: copy a Stripe account into a database you own and keep it current.

The public Python API, importable from the package itself::

    import stripe_sync
    pipeline = stripe_sync.Pipeline(source={...}, destination={...})
    async for message in stripe_sync.sync_until_complete(pipeline): ...

Names load on first use, so ``import stripe_sync.<module>`` (the CLI, the fake server) does not
pay for the engine. Everything else is internal and may change between versions.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "sync": "stripe_sync.engine.sync",
    "sync_until_complete": "stripe_sync.engine.sync",
    "Pipeline": "stripe_sync.engine.pipeline",
    "ConnectorRef": "stripe_sync.engine.pipeline",
    "destination_state_store": "stripe_sync.engine.registry",
    "FileStateStore": "stripe_sync.engine.state_store",
    "MemoryStateStore": "stripe_sync.engine.state_store",
    "SyncError": "stripe_sync.protocol.errors",
    "ConfigError": "stripe_sync.protocol.errors",
    "StripeError": "stripe_sync.sources.stripe.errors",
    "AuthenticationFailed": "stripe_sync.sources.stripe.errors",
    "PermissionDenied": "stripe_sync.sources.stripe.errors",
    "AccountAccessRevoked": "stripe_sync.sources.stripe.errors",
    "NotAvailable": "stripe_sync.sources.stripe.errors",
    "RetriesExhausted": "stripe_sync.sources.stripe.errors",
    "Unreachable": "stripe_sync.sources.stripe.errors",
    "UnexpectedResponse": "stripe_sync.sources.stripe.errors",
}
"""Public name → the module that defines it."""

__all__ = [
    "AccountAccessRevoked",
    "AuthenticationFailed",
    "ConfigError",
    "ConnectorRef",
    "FileStateStore",
    "MemoryStateStore",
    "NotAvailable",
    "PermissionDenied",
    "Pipeline",
    "RetriesExhausted",
    "StripeError",
    "SyncError",
    "UnexpectedResponse",
    "Unreachable",
    "__version__",
    "destination_state_store",
    "sync",
    "sync_until_complete",
]

if TYPE_CHECKING:
    from stripe_sync.engine.pipeline import ConnectorRef, Pipeline
    from stripe_sync.engine.registry import destination_state_store
    from stripe_sync.engine.state_store import FileStateStore, MemoryStateStore
    from stripe_sync.engine.sync import sync, sync_until_complete
    from stripe_sync.protocol.errors import ConfigError, SyncError
    from stripe_sync.sources.stripe.errors import (
        AccountAccessRevoked,
        AuthenticationFailed,
        NotAvailable,
        PermissionDenied,
        RetriesExhausted,
        StripeError,
        UnexpectedResponse,
        Unreachable,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stripe_sync' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
