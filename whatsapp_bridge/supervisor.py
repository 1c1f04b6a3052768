"""A small supervisor: run ``python -m whatsapp_bridge <command>`` as a child process and restart it when it dies.

``all`` and ``demo`` use it for the session process (WhatsApp Web), so a crash there (native code, a
driver bug) never takes the webhook server or the workers down.  Restarts back off from 1 s to 30 s
(reset after a minute of life); ``stop()`` sends SIGTERM and, after ``grace`` seconds, SIGKILL.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self, args: list[str], env: dict[str, str] | None = None, name: str = "child",
                 max_delay: float = 30.0, grace: float = 10.0):
        self.args = args
        self.env = dict(os.environ if env is None else env)
        self.name = name
        self.max_delay = max_delay
        self.grace = grace
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"supervise-{name}", daemon=True)

    def start(self) -> Supervisor:
        self._thread.start()
        return self

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "whatsapp_bridge", *self.args], env=self.env)

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            started = time.monotonic()
            self.process = self._spawn()
            log.info("child process started", extra={"fields": {"child": self.name, "pid": self.process.pid}})
            while self.process.poll() is None and not self._stop.wait(0.5):
                pass
            if self._stop.is_set():
                return
            code = self.process.returncode
            if time.monotonic() - started > 60:
                delay = 1.0
            self.restarts += 1
            log.error("child process died, restarting", extra={"fields": {
                "child": self.name, "exit_code": code, "restart_in": delay, "restarts": self.restarts}})
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.max_delay)

    def stop(self) -> None:
        self._stop.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(self.grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._thread.join(self.grace + 5)
