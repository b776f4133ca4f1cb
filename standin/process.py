"""Start a stand-in server in a subprocess and learn the URL it listens on.

Every stand-in module runs as ``python -m MODULE --port 0 ...`` and prints
``listening on URL`` as its first line on stdout once it accepts
connections; one that opens more ports names each on a further line, such
as ``cdn on URL``.  Tests, benchmarks and the demo use :class:`StandIn` for
that::

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
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
CONTROL_TIMEOUT = 10.0
# How much of a server's stderr an error message quotes, from its end.
STDERR_TAIL_LINES = 20


class StandInError(RuntimeError):
    """A stand-in did not start, or a control call to it failed."""


class StandIn:
    """A stand-in server running in a subprocess, usable as a context manager.

    ``env`` is added to this process's environment for the subprocess.
    ``banners`` names the lines the server prints first, ``NAME on URL``
    each; ``urls`` holds their URLs in that order and ``url`` the first.
    """

    def __init__(
        self,
        module: str,
        *args: str,
        env: dict[str, str] | None = None,
        banners: Sequence[str] = ("listening",),
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.module = module
        self.args = args
        self.env = env
        self.banners = tuple(banners)
        self.start_timeout = start_timeout
        self.urls: list[str] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return self.urls[0] if self.urls else ""

    def start(self) -> Self:
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
        self.urls = self._read_banners(self._process)
        return self

    def _read_banners(self, process: subprocess.Popen[bytes]) -> list[str]:
        # A thread reads stdout so that the wait can time out, and keeps
        # draining it afterwards so that the server never blocks on a full
        # pipe.
        lines: queue.Queue[bytes] = queue.Queue()
        assert process.stdout is not None
        threading.Thread(
            target=_drain, args=(process.stdout, lines, len(self.banners)), daemon=True
        ).start()

        deadline = time.monotonic() + self.start_timeout
        urls = []
        for name in self.banners:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise self._failed(
                    f"did not print '{name} on URL' within {self.start_timeout:g} s"
                ) from None
            if not line:
                raise self._failed(
                    f"exited with status {process.wait()} before listening"
                )
            text = line.decode("utf-8", "replace").strip()
            found = re.search(rf"{re.escape(name)} on (\S+)", text)
            if found is None:
                raise self._failed(f"printed {text!r} instead of '{name} on URL'")
            urls.append(found[1].rstrip("/"))
        return urls

    def _failed(self, what: str) -> StandInError:
        """Stop the server and describe why it did not start."""
        message = f"{self.module} {what}"
        if self._stderr is not None:
            self._stderr.seek(0)
            stderr = self._stderr.read().decode("utf-8", "replace")
            if stderr:
                message += f"; stderr:\n{tail(stderr)}"
        self.stop()
        return StandInError(message)

    def stop(self) -> None:
        """Terminate the server, killing it if it does not stop in time."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate ``process``, killing it if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last ``lines`` lines of a server's output, for an error message."""
    return "\n".join(text.splitlines()[-lines:])


def _drain(stream: IO[bytes], lines: queue.Queue[bytes], banners: int) -> None:
    # The banner lines (or b"" at end of file) go to the waiting start();
    # everything after them is read and dropped.
    try:
        for _ in range(banners):
            line = stream.readline()
            lines.put(line)
            if not line:
                return
        while stream.read(65_536):
            pass
    except (OSError, ValueError):
        # stop() closed the stream under us; nothing is left to drain.
        return
