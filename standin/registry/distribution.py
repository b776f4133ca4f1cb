"""Run the real CNCF distribution registry on loopback, behind token auth.

``LocalRegistry`` starts two processes in a temporary directory: the token
service from ``standin.registry.tokens`` and ``docker-registry serve`` (the
Debian package of distribution 2.8) configured to trust tokens signed by a
fresh self-signed certificate. Both listen on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self, cast

from ..process import StandIn, StandInError, stop_process, tail
from .certs import make_signing_cert
from .tokens import request_token

logger = logging.getLogger(__name__)

REGISTRY_BINARY = "docker-registry"
LISTENING = re.compile(r"listening on (127\.0\.0\.1:[0-9]+)")


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
        start_timeout: float = 20.0,
    ) -> None:
        self.service = service
        self.issuer = issuer
        self.user = user or ("pusher", secrets.token_urlsafe(12))
        self.expires_in = expires_in
        self.binary = binary
        self.start_timeout = start_timeout
        self.registry_url = ""
        self.token_service_url = ""
        self.auth_url = ""
        self.workdir: Path | None = None
        self.cert_path: Path | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._tokens: StandIn | None = None
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
            raise StandInError(
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
        self._tokens = StandIn(
            "standin.registry.tokens",
            "--key", str(key_path),
            "--cert", str(self.cert_path),
            "--issuer", self.issuer,
            "--user", ":".join(self.user),
            "--expires-in", str(self.expires_in),
            start_timeout=self.start_timeout,
        )  # fmt: skip
        self.token_service_url = self._tokens.start().url
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

        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(log_path.read_text(errors="replace"))
            if match is not None:
                self.registry_url = f"http://{match.group(1)}"
                return
            if self._registry.poll() is not None:
                break
            time.sleep(0.02)
        raise StandInError(
            f"{binary} did not log 'listening on' within {self.start_timeout:g} s "
            f"(exit status {self._registry.poll()}); log:\n"
            f"{tail(log_path.read_text(errors='replace'))}"
        )

    def _wait_for_challenge(self) -> None:
        """Wait until ``/v2/`` refuses us with the Bearer challenge we configured."""
        expected = f'Bearer realm="{self.auth_url}",service="{self.service}"'
        deadline = time.monotonic() + self.start_timeout
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
        raise StandInError(
            f"{self.registry_url}/v2/ never answered 401 with {expected!r}; "
            f"last answer: {last}"
        )

    def stop(self) -> None:
        if self._registry is not None:
            stop_process(self._registry)
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
        """How many token requests the token service answered, and how."""
        if self._tokens is None:
            raise StandInError("the local registry is not running")
        stats = self._tokens.control("GET", "/_standin/stats")
        return cast("dict[str, int]", stats)
