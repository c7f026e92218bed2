"""The package's public Python API: its names stay put, and the README's example runs."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support.stripe import fake_stripe

import stripe_sync

README = Path(__file__).resolve().parents[2] / "README.md"
PUBLIC = [
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


def test_the_public_names_stay_stable_and_all_resolve():
    assert sorted(stripe_sync.__all__) == PUBLIC, "a change to the public API is deliberate"
    for name in PUBLIC:
        assert getattr(stripe_sync, name) is not None
    assert issubclass(stripe_sync.StripeError, stripe_sync.SyncError)
    assert issubclass(stripe_sync.Unreachable, stripe_sync.StripeError)
    assert issubclass(stripe_sync.ConfigError, stripe_sync.SyncError)
    from stripe_sync.engine.sync import sync, sync_until_complete

    assert (stripe_sync.sync, stripe_sync.sync_until_complete) == (sync, sync_until_complete)


def test_importing_the_package_loads_no_engine():
    probe = "import sys, stripe_sync; print('stripe_sync.engine.sync' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def readme_python_example() -> str:
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    return example


def test_the_readme_example_syncs_into_sqlite(tmp_path):
    example = readme_python_example()
    assert len(example.strip().splitlines()) <= 20
    script = tmp_path / "example.py"
    script.write_text(example)
    with fake_stripe({"customers": 120, "products": 15}) as fake:
        env = {**os.environ, "STRIPE_API_KEY": "sk_test_readme", "STRIPE_API_BASE": fake.url}
        runs = [
            subprocess.run(
                [sys.executable, str(script)],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            for _ in range(2)
        ]
    for done in runs:
        assert done.returncode == 0, done.stderr
    assert runs[0].stdout.split() == ["complete", "135"]
    assert runs[1].stdout.split()[0] == "complete"  # the second run is incremental
    with sqlite3.connect(tmp_path / "stripe.db") as database:
        counts = [
            database.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("customers", "products")
        ]
    assert counts == [120, 15]
