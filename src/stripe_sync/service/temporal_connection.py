"""How a service process reaches Temporal: address, namespace and TLS, then a connected client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.service import TLSConfig

from stripe_sync.protocol.errors import ConfigError

DEFAULT_ADDRESS = "127.0.0.1:7233"


@dataclass(frozen=True)
class TemporalSettings:
    """Where the cluster is; TLS is on when ``tls`` is set or any certificate file is given."""

    address: str = DEFAULT_ADDRESS
    namespace: str = "default"
    tls: bool = False
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    api_key: str | None = None

    def tls_config(self) -> TLSConfig | bool:
        if not (self.tls or self.tls_ca or self.tls_cert or self.tls_key):
            return False
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together")
        return TLSConfig(
            server_root_ca_cert=_read(self.tls_ca),
            client_cert=_read(self.tls_cert),
            client_private_key=_read(self.tls_key),
        )


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


async def connect(settings: TemporalSettings) -> Client:
    """A client of the cluster; an unreachable cluster raises (Temporal's own error)."""
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        tls=settings.tls_config(),
        api_key=settings.api_key,
    )
