"""Run the real CNCF distribution registry on loopback, behind token auth.

``LocalRegistry`` starts two processes in a temporary directory: the token
service from ``standin.registry.tokens`` and ``docker-registry serve`` (the
Debian package of distribution 2.8) configured to trust tokens signed by a
fresh self-signed certificate. Both listen on 127.0.0.1 only.

``ServerProcess`` is the small helper both stand-ins use to start a Python
server that announces its address on stdout.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import secrets
import shutil
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

from .certs import make_signing_cert
from .tokens import request_token

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REGISTRY_BINARY = "docker-registry"
LISTENING = re.compile(r"listening on (127\.0\.0\.1:[0-9]+)")


class StandinError(RuntimeError):
    """A stand-in server could not be started or did not answer as expected."""


def _python_env() -> dict[str, str]:
    # The child runs ``python -m standin...`` from any working directory, so
    # the project root goes first on its import path.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p
    )
    return env


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _stop(process: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


class ServerProcess:
    """A ``python -m MODULE`` server that prints ``NAME on URL`` lines first.

    ``start()`` returns the URLs from the first ``banners`` lines of stdout.
    A thread keeps reading stdout afterwards so that the child never blocks
    on a full pipe; stderr goes to ``log_path``.
    """

    def __init__(
        self,
        module: str,
        args: Sequence[str],
        *,
        log_path: Path,
        banners: int = 1,
        timeout: float = 10.0,
    ) -> None:
        self.argv = [sys.executable, "-m", module, *args]
        self.module = module
        self.log_path = log_path
        self.banners = banners
        self.timeout = timeout
        self.process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def start(self) -> list[str]:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=_python_env(),
            )
        assert self.process.stdout is not None
        threading.Thread(
            target=self._read, args=(self.process.stdout,), daemon=True
        ).start()

        urls: list[str] = []
        deadline = time.monotonic() + self.timeout
        while len(urls) < self.banners:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise StandinError(
                    f"{self.module} did not announce its address within "
                    f"{self.timeout:g} s (exit status {self.process.returncode}); "
                    f"stderr:\n{_tail(self.log_path)}"
                )
            match = re.search(r" on (http://\S+)", line)
            if match is None:
                self.stop()
                raise StandinError(f"{self.module} printed {line!r}, not 'NAME on URL'")
            urls.append(match.group(1))
        return urls

    def _read(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


class LocalRegistry:
    """distribution 2.8 with token authentication, on loopback.

    Use it as a context manager. Anonymous tokens pull; ``push_token()``
    authenticates as the configured user, who may also push.
    """

    def __init__(
        self,
        *,
        service: str = "registry.test",
        issuer: str = "standin-token-service",
        user: tuple[str, str] | None = None,
        expires_in: int = 300,
        binary: str = REGISTRY_BINARY,
        startup_timeout: float = 20.0,
    ) -> None:
        self.service = service
        self.issuer = issuer
        self.user = user or ("pusher", secrets.token_urlsafe(12))
        self.expires_in = expires_in
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.registry_url = ""
        self.token_service_url = ""
        self.auth_url = ""
        self.workdir: Path | None = None
        self.cert_path: Path | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._tokens: ServerProcess | None = None
        self._registry: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        binary = shutil.which(self.binary)
        if binary is None:
            raise StandinError(
                f"{self.binary!r} is not on PATH; install the Debian package "
                "'docker-registry' (CNCF distribution 2.8) to run the local registry"
            )
        started = time.monotonic()
        self._tempdir = tempfile.TemporaryDirectory(prefix="standin-registry-")
        self.workdir = Path(self._tempdir.name)
        try:
            self._start_token_service()
            self._start_registry(binary)
            self._wait_for_challenge()
        except BaseException:
            self.stop()
            raise
        logger.info(
            "local registry %(url)s ready in %(seconds).2f s",
            {"url": self.registry_url, "seconds": time.monotonic() - started},
        )

    def _start_token_service(self) -> None:
        assert self.workdir is not None
        key_path, self.cert_path = make_signing_cert(self.workdir / "certs")
        args = [
            "--port", "0",
            "--key", str(key_path),
            "--cert", str(self.cert_path),
            "--issuer", self.issuer,
            "--user", ":".join(self.user),
            "--expires-in", str(self.expires_in),
        ]  # fmt: skip
        self._tokens = ServerProcess(
            "standin.registry.tokens",
            args,
            log_path=self.workdir / "tokens.log",
            timeout=self.startup_timeout,
        )
        (self.token_service_url,) = self._tokens.start()
        self.auth_url = f"{self.token_service_url}/token"

    def _start_registry(self, binary: str) -> None:
        assert self.workdir is not None
        # JSON is YAML, so the config needs no YAML library. Port 0 lets the
        # kernel pick a free port, which the registry then logs at INFO.
        config = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / "storage")},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": "127.0.0.1:0", "secret": secrets.token_hex(16)},
            "auth": {
                "token": {
                    "realm": self.auth_url,
                    "service": self.service,
                    "issuer": self.issuer,
                    "rootcertbundle": str(self.cert_path),
                }
            },
        }
        config_path = self.workdir / "config.yml"
        config_path.write_text(json.dumps(config, indent=2))
        log_path = self.workdir / "registry.log"
        with log_path.open("ab") as log:
            self._registry = subprocess.Popen(
                [binary, "serve", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(log_path.read_text(errors="replace"))
            if match is not None:
                self.registry_url = f"http://{match.group(1)}"
                return
            if self._registry.poll() is not None:
                break
            time.sleep(0.02)
        raise StandinError(
            f"{binary} did not log 'listening on' within {self.startup_timeout:g} s "
            f"(exit status {self._registry.poll()}); log:\n{_tail(log_path)}"
        )

    def _wait_for_challenge(self) -> None:
        """Wait until ``/v2/`` refuses us with the Bearer challenge we configured."""
        expected = f'Bearer realm="{self.auth_url}",service="{self.service}"'
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.registry_url}/v2/", timeout=2):
                    last = "200 without a token"
            except urllib.error.HTTPError as exc:
                exc.close()
                challenge = exc.headers.get("WWW-Authenticate", "")
                if exc.code == 401 and challenge.startswith(expected):
                    return
                last = f"{exc.code} with WWW-Authenticate {challenge!r}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.05)
        raise StandinError(
            f"{self.registry_url}/v2/ never answered 401 with {expected!r}; "
            f"last answer: {last}"
        )

    def stop(self) -> None:
        if self._registry is not None:
            _stop(self._registry)
            self._registry = None
        if self._tokens is not None:
            self._tokens.stop()
            self._tokens = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def token(
        self,
        repository: str,
        actions: Sequence[str] = ("pull",),
        *,
        authenticate: bool = False,
    ) -> str:
        """A token for ``repository:NAME:ACTIONS``, anonymous unless asked."""
        scope = f"repository:{repository}:{','.join(actions)}"
        answer = request_token(
            self.auth_url,
            self.service,
            [scope],
            self.user if authenticate else None,
        )
        token: str = answer["token"]
        return token

    def push_token(self, repository: str) -> str:
        """A token with pull and push on ``repository``, as the configured user."""
        return self.token(repository, ("pull", "push"), authenticate=True)

    def token_stats(self) -> dict[str, int]:
        with urllib.request.urlopen(
            f"{self.token_service_url}/_standin/stats", timeout=5
        ) as response:
            stats: dict[str, int] = json.load(response)
        return stats
