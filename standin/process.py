"""Start a stand-in server in a subprocess and learn the URL it listens on.

Every stand-in module runs as ``python -m MODULE --port 0 ...`` and prints
``listening on URL`` as its first line on stdout once it accepts
connections.  Tests, benchmarks and the demo use :class:`StandIn` for that::

    with StandIn("standin.hub", "--data", "standin/data/demo.json") as hub:
        urllib.request.urlopen(hub.url + "/v2/repositories/demo/")
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
CONTROL_TIMEOUT = 10.0

_LISTENING = re.compile(r"listening on (\S+)")


class StandInError(RuntimeError):
    """A stand-in did not start, or a control call to it failed."""


class StandIn:
    """A stand-in server running in a subprocess, usable as a context manager.

    ``env`` is added to this process's environment for the subprocess.
    """

    def __init__(
        self, module: str, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.module = module
        self.args = args
        self.env = env
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    def start(self) -> StandIn:
        """Run the module and wait until it says where it listens."""
        if self._process is not None:
            raise StandInError(f"{self.module} is already running at {self.url}")
        command = [sys.executable, "-m", self.module, "--port", "0", *self.args]
        # stderr goes to a file, not a pipe: a chatty server (--verbose) would
        # block once a pipe that nobody reads is full.  The file lives as long
        # as the server, so stop() closes it rather than a with block.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            command,
            cwd=REPOSITORY_ROOT,
            env={**os.environ, **(self.env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        line = self._first_line(self._process)
        found = _LISTENING.search(line)
        if found is None:
            self.stop()
            raise StandInError(
                f"{self.module} printed {line!r} instead of 'listening on URL'"
            )
        self.url = found[1].rstrip("/")
        return self

    def _first_line(self, process: subprocess.Popen[bytes]) -> str:
        # A thread reads stdout so that the wait can time out, and keeps
        # draining it afterwards so that the server never blocks on a full
        # pipe.
        lines: queue.Queue[bytes] = queue.Queue()
        assert process.stdout is not None
        threading.Thread(
            target=_drain, args=(process.stdout, lines), daemon=True
        ).start()
        try:
            line = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            self.stop()
            raise StandInError(
                f"{self.module} did not say where it listens within "
                f"{START_TIMEOUT:g} s; stderr:\n{self._stderr_text()}"
            ) from None
        if not line:
            code = process.wait()
            stderr = self._stderr_text()
            self.stop()
            raise StandInError(
                f"{self.module} exited with status {code} before listening; "
                f"stderr:\n{stderr}"
            )
        return line.decode("utf-8", "replace").strip()

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def stop(self) -> None:
        """Terminate the server, killing it if it does not stop in time."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def control(self, method: str, path: str, body: object | None = None) -> object:
        """Send ``body`` as JSON to ``url + path`` and return the JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=CONTROL_TIMEOUT) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise StandInError(
                f"{method} {path} answered {exc.code}: {detail}"
            ) from exc
        return json.loads(raw) if raw else None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _drain(stream: IO[bytes], lines: queue.Queue[bytes]) -> None:
    # The first line (or b"" at end of file) goes to the waiting start();
    # everything after it is read and dropped.
    lines.put(stream.readline())
    try:
        while stream.read(65_536):
            pass
    except (OSError, ValueError):
        # stop() closed the stream under us; nothing is left to drain.
        return
