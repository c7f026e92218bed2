"""A real terminal for display tests: a detached tmux session we can type into and read."""

from __future__ import annotations

import shlex
import subprocess
import time
import uuid
from pathlib import Path


class TmuxSession:
    """Runs one shell command in a fresh tmux session of a fixed size."""

    def __init__(self, command: str, workdir: Path, *, width: int = 140, height: int = 45) -> None:
        self.name = f"stripe-sync-{uuid.uuid4().hex[:8]}"
        self.exit_file = workdir / f"{self.name}.exit"
        wrapped = (
            f"cd {shlex.quote(str(workdir))} && {command}; echo $? > {self.exit_file}; sleep 30"
        )
        subprocess.run(
            [
                "tmux",
                "new-session",
                "-d",
                "-s",
                self.name,
                "-x",
                str(width),
                "-y",
                str(height),
                wrapped,
            ],
            check=True,
        )

    def screen(self) -> str:
        done = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return done.stdout

    def send_keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def exit_code(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_file.exists() and self.exit_file.read_text().strip():
                return int(self.exit_file.read_text())
            time.sleep(0.2)
        raise AssertionError(f"the command did not finish:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)
