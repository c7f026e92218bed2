"""Secrets sealed at rest: the pipeline store keeps each pipeline's spec (Stripe key, database
URLs with their passwords, webhook secrets) encrypted with Fernet (``cryptography``: AES-128-CBC
and HMAC-SHA256, a timestamped token).

The keys come from ``STRIPE_SYNC_STORE_KEY`` or a key file (``--store-key-file``), one key a line
(or comma-separated in the variable): the first seals, every one of them unseals, so keys rotate
without downtime (``stripe-sync service rotate-key`` re-seals every row with the first key).
``stripe-sync service dev`` keeps a generated key in its data directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from stripe_sync.protocol.errors import ConfigError

KEY_ENV = "STRIPE_SYNC_STORE_KEY"
KEY_FILE_ENV = "STRIPE_SYNC_STORE_KEY_FILE"
DEV_KEY_FILE = "store.key"


class StoreKeyError(Exception):
    """A sealed value none of this process's keys opens (a key missing, or the data altered)."""


def new_key() -> str:
    """A fresh random key, as text."""
    return Fernet.generate_key().decode()


class Sealer:
    """Seals and unseals text with the first of ``keys``; unseals with any of them."""

    def __init__(self, keys: Sequence[str], where: str = "the store key") -> None:
        if not keys:
            raise ConfigError(f"{where} holds no key")
        fernets = []
        for number, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError:
                raise ConfigError(
                    f"{where}: key {number} is not a Fernet key (32 url-safe base64-encoded "
                    "bytes; `stripe-sync service new-key` makes one)"
                ) from None
        self._keys = MultiFernet(fernets)

    @classmethod
    def from_text(cls, text: str, where: str) -> Sealer:
        """Keys one a line or comma-separated; blank lines and ``#`` comments are skipped."""
        keys = [
            part.strip()
            for line in text.splitlines()
            if not line.strip().startswith("#")
            for part in line.split(",")
            if part.strip()
        ]
        return cls(keys, where)

    def seal(self, plain: str) -> str:
        return self._keys.encrypt(plain.encode()).decode()

    def unseal(self, token: str) -> str:
        try:
            return self._keys.decrypt(token.encode()).decode()
        except InvalidToken:
            raise StoreKeyError(
                "a sealed pipeline opens with none of this process's store keys"
            ) from None

    def reseal(self, token: str) -> str:
        """``token`` sealed again with the first key."""
        try:
            return self._keys.rotate(token.encode()).decode()
        except InvalidToken:
            raise StoreKeyError(
                "a sealed pipeline opens with none of the given store keys"
            ) from None


def load_sealer(key_file: Path | None) -> Sealer:
    """The keys of ``key_file``, else of ``STRIPE_SYNC_STORE_KEY``; ConfigError when neither."""
    if key_file is not None:
        try:
            text = key_file.read_text()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the store key file {key_file}: {exc.strerror}"
            ) from None
        return Sealer.from_text(text, f"the store key file {key_file}")
    if os.environ.get(KEY_ENV, "").strip():
        return Sealer.from_text(os.environ[KEY_ENV], KEY_ENV)
    raise ConfigError(
        f"the store's secrets need a key: set {KEY_ENV} or --store-key-file "
        "(`stripe-sync service new-key` makes one)"
    )


def dev_sealer(key_file: Path | None, data_dir: Path) -> Sealer:
    """``service dev``: the given keys, else the data directory's key file (made on first use)."""
    if key_file is not None or os.environ.get(KEY_ENV, "").strip():
        return load_sealer(key_file)
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key() + "\n")
    return load_sealer(path)
