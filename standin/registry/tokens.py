"""A token service in the shape of ``auth.docker.io``, for the real registry.

``GET /token?service=S&scope=repository:NAME:pull`` answers with a JWT that
CNCF distribution accepts: RS256, the signing certificate in the ``x5c``
header, ``aud`` set to the service and one ``access`` entry per requested
repository scope. Run it as::

    python -m standin.registry.tokens --port 0 --key KEY.pem --cert CERT.pem \\
        --issuer ISSUER [--user NAME:PASSWORD] [--expires-in N] [--omit-expires-in]

The first line on stdout is ``listening on http://127.0.0.1:PORT``.

Pull is granted to everyone. Push is granted to a user who authenticated;
when no ``--user`` is configured the service is open and grants push to
anyone, which keeps a throwaway registry simple to fill.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import hmac
import json
import logging
import secrets
import threading
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from ..http import StandInHandler, StandInServer, serve

logger = logging.getLogger(__name__)

DEFAULT_EXPIRES_IN = 300
GRANTABLE_ACTIONS = ("pull", "push")


@dataclass(frozen=True)
class Scope:
    """One requested resource scope, e.g. ``repository:library/nginx:pull``."""

    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Scope:
        # The name sits between the first and the last colon because a name
        # may itself hold one (a registry host with a port).
        type_, sep, rest = text.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not (sep and sep2 and type_ and name):
            raise ValueError(f"scope {text!r} is not TYPE:NAME:ACTIONS")
        return cls(type_, name, tuple(a for a in actions.split(",") if a))

    @classmethod
    def parse_query(cls, values: Iterable[str]) -> list[Scope]:
        """The scopes of a token request's ``scope`` parameters.

        Each value may hold several scopes separated by spaces.
        """
        return [cls.parse(text) for value in values for text in value.split()]


@dataclass
class TokenStats:
    requests: int = 0
    authorized: int = 0
    anonymous: int = 0
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, outcome: str | None) -> None:
        with self.lock:
            self.requests += 1
            if outcome is not None:
                setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, int]:
        with self.lock:
            return {
                "requests": self.requests,
                "authorized": self.authorized,
                "anonymous": self.anonymous,
                "rejected": self.rejected,
            }


@dataclass(frozen=True)
class TokenSettings:
    signing_key: RSAPrivateKey
    certificate_der_b64: str
    issuer: str
    users: dict[str, str] = field(default_factory=dict)
    expires_in: int = DEFAULT_EXPIRES_IN
    omit_expires_in: bool = False

    @classmethod
    def from_files(
        cls,
        key_path: str | Path,
        cert_path: str | Path,
        issuer: str,
        **options: Any,
    ) -> TokenSettings:
        key = serialization.load_pem_private_key(
            Path(key_path).read_bytes(), password=None
        )
        if not isinstance(key, RSAPrivateKey):
            raise TypeError(f"{key_path} holds no RSA private key; RS256 needs one")
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        der = cert.public_bytes(serialization.Encoding.DER)
        # x5c carries standard base64 (RFC 7515 4.1.6), not the URL-safe kind.
        return cls(key, base64.b64encode(der).decode("ascii"), issuer, **options)


class TokenServer(StandInServer):
    def __init__(self, address: tuple[str, int], settings: TokenSettings) -> None:
        super().__init__(address, TokenHandler)
        self.settings = settings
        self.stats = TokenStats()

    def issue(self, subject: str, service: str, scopes: list[Scope]) -> dict[str, Any]:
        settings = self.settings
        may_push = bool(subject) or not settings.users
        access = []
        for scope in scopes:
            if scope.type != "repository":
                continue
            granted = [
                action
                for action in GRANTABLE_ACTIONS
                if action in scope.actions and (action == "pull" or may_push)
            ]
            access.append(
                {"type": "repository", "name": scope.name, "actions": granted}
            )

        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        claims = {
            "iss": settings.issuer,
            "sub": subject,
            "aud": service,
            "exp": now + datetime.timedelta(seconds=settings.expires_in),
            "nbf": now,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        token = jwt.encode(
            claims,
            settings.signing_key,
            algorithm="RS256",
            headers={"x5c": [settings.certificate_der_b64]},
        )
        answer: dict[str, Any] = {"token": token, "access_token": token}
        if not settings.omit_expires_in:
            answer["expires_in"] = settings.expires_in
        answer["issued_at"] = now.isoformat().replace("+00:00", "Z")
        return answer


class Unauthorized(Exception):
    """The request carried credentials that do not match a configured user."""


class TokenHandler(StandInHandler):
    server: TokenServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_standin/stats":
            self.respond_json(HTTPStatus.OK, self.server.stats.as_dict())
        elif url.path == "/token":
            self.answer_token(parse_qs(url.query))
        else:
            self.respond_json(HTTPStatus.NOT_FOUND, {"details": "not found"})

    def answer_token(self, query: dict[str, list[str]]) -> None:
        stats = self.server.stats
        try:
            subject = self.authenticate()
        except Unauthorized:
            stats.count("rejected")
            self.respond_json(
                HTTPStatus.UNAUTHORIZED,
                {"details": "incorrect username or password"},
                [("WWW-Authenticate", 'Basic realm="standin token service"')],
            )
            return

        service = query.get("service", [""])[0]
        try:
            scopes = Scope.parse_query(query.get("scope", []))
        except ValueError as exc:
            stats.count(None)
            self.respond_json(HTTPStatus.BAD_REQUEST, {"details": str(exc)})
            return
        if not service:
            stats.count(None)
            self.respond_json(
                HTTPStatus.BAD_REQUEST, {"details": "service is required"}
            )
            return

        stats.count("authorized" if subject else "anonymous")
        self.respond_json(HTTPStatus.OK, self.server.issue(subject, service, scopes))

    def authenticate(self) -> str:
        """Return the user name, or ``""`` for an anonymous request."""
        header = self.headers.get("Authorization")
        if header is None:
            return ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise Unauthorized
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthorized from exc
        user, _, password = decoded.partition(":")
        expected = self.server.settings.users.get(user)
        if expected is None or not hmac.compare_digest(expected, password):
            raise Unauthorized
        return user

    def log_message(self, format: str, *args: Any) -> None:
        # The request line may carry a scope but never a token; still, keep
        # it at DEBUG so that a test run stays quiet.
        logger.debug("%s " + format, self.address_string(), *args)


def request_token(
    realm: str,
    service: str,
    scopes: Sequence[str],
    credentials: tuple[str, str] | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Ask a token service for a token, as a registry client would.

    Raises ``urllib.error.HTTPError`` when the service refuses, e.g. 401 for
    wrong credentials.
    """
    query = urlencode([("service", service), *(("scope", s) for s in scopes)])
    request = urllib.request.Request(f"{realm}?{query}")
    if credentials is not None:
        pair = ":".join(credentials).encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def parse_user(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError(f"--user must be NAME:PASSWORD, not {text!r}")
    return user, password


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m standin.registry.tokens")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", required=True, help="PEM RSA private key")
    parser.add_argument("--cert", required=True, help="PEM certificate of the key")
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--user", type=parse_user, action="append", default=[])
    parser.add_argument("--expires-in", type=int, default=DEFAULT_EXPIRES_IN)
    parser.add_argument("--omit-expires-in", action="store_true")
    args = parser.parse_args(argv)
    if args.expires_in <= 0:
        parser.error(
            f"--expires-in must be a positive number of seconds, not {args.expires_in}"
        )

    settings = TokenSettings.from_files(
        args.key,
        args.cert,
        args.issuer,
        users=dict(args.user),
        expires_in=args.expires_in,
        omit_expires_in=args.omit_expires_in,
    )
    logging.basicConfig(level=logging.WARNING)
    serve(TokenServer(("127.0.0.1", args.port), settings))


if __name__ == "__main__":
    main()
