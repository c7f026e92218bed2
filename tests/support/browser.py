"""A real browser for the dashboard tests: Debian's ``chromium`` driven by Playwright.

Playwright never downloads a browser here: it launches the system's ``/usr/bin/chromium``
(``./run test`` installs the Debian package when it is missing) with the flags architecture.md
names. Screenshots go to ``test-artifacts/`` at the repository root (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the duration of the block."""
    if not CHROMIUM.exists():
        raise AssertionError(f"{CHROMIUM} is missing: `./run test` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def artifact(name: str) -> Path:
    """Where a test writes a screenshot or other artifact named ``name``."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
