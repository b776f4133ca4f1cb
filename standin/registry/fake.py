"""A fake of ``registry-1.docker.io`` for what the real registry cannot show.

It serves manifests and blobs from a JSON data file and reproduces Docker
Hub's edges: opaque Bearer tokens that really expire, ``Accept``
negotiation, schema 1 manifests, pull quota headers and 429s counted on
manifest GETs only, and blob GETs that answer 307 to a second "CDN" port
which refuses any request carrying ``Authorization``. Run it as::

    python -m standin.registry.fake --port 0 --data FILE [--cdn-port 0]
        [--realm URL] [--service NAME] [--token-ttl 300]
        [--pull-limit 100] [--pull-window 21600] [--unlimited]

The first two stdout lines are ``listening on http://127.0.0.1:PORT`` and
``cdn on http://127.0.0.1:CDNPORT``. The data file is::

    {"manifests": {NAME: {"tags": {TAG: DIGEST},
                          "manifests": {DIGEST: {"media_type": TYPE,
                                                 "body": EXACT TEXT}}}},
     "blobs": {DIGEST: TEXT or {"base64": DATA}}}

The fake trusts the file: it never recomputes a digest, so a test can serve
a manifest or blob that does not match its digest on purpose.
``fixture_data()`` builds the standard file. ``GET /_standin/stats`` counts
requests; ``PUT /_standin/pulls`` sets the quota.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .distribution import ServerProcess
from .push import (
    DOCKER,
    DOCKER_CONFIG,
    DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    FIXED_CREATED,
    SCHEMA1_SIGNED,
    Blob,
    Image,
    Layer,
    Platform,
    Recipe,
    app_layer,
    base_layer,
    build_image,
    canonical_json,
    image_config,
    image_index,
    sha256_digest,
    tar_gzip_layer,
)
from .tokens import Scope, request_token

logger = logging.getLogger(__name__)

DEFAULT_SERVICE = "registry.docker.io"
DEFAULT_TOKEN_TTL = 300
DEFAULT_PULL_LIMIT = 100
DEFAULT_PULL_WINDOW = 21600
STAT_KEYS = (
    "manifest_get",
    "manifest_head",
    "blob_get",
    "token",
    "cdn_get",
    "cdn_rejected_auth",
    # Not in Docker Hub's vocabulary, but what a test of a client asks:
    # did it send account credentials with a token request, or any
    # credentials other than a Bearer token to the registry?
    "token_authenticated",
    "credentials_to_registry",
    "tags_list",
)
TOO_MANY_REQUESTS = {
    "errors": [
        {
            "code": "TOOMANYREQUESTS",
            "message": "You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit",
        }
    ]
}
# What Docker Hub's CDN (an S3-style store) answers when a signed URL also
# carries an Authorization header.
ONE_AUTH_ONLY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code>'
    b"<Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query "
    b"parameter, Signature query string parameter or the Authorization header "
    b"should be specified</Message></Error>"
)


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "detail": detail}]}


@dataclass(frozen=True)
class StoredManifest:
    media_type: str
    body: bytes


@dataclass
class Repository:
    tags: dict[str, str]
    manifests: dict[str, StoredManifest]

    def resolve(self, reference: str) -> tuple[str, StoredManifest] | None:
        digest = (
            reference if reference.startswith("sha256:") else self.tags.get(reference)
        )
        if digest is None or digest not in self.manifests:
            return None
        return digest, self.manifests[digest]


def load_data(
    data: Mapping[str, Any],
) -> tuple[dict[str, Repository], dict[str, bytes]]:
    """Read the data file's structure; raise ``ValueError`` naming what is wrong."""
    repositories = {}
    for name, entry in data.get("manifests", {}).items():
        try:
            manifests = {
                digest: StoredManifest(m["media_type"], m["body"].encode())
                for digest, m in entry["manifests"].items()
            }
            tags = dict(entry.get("tags", {}))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"manifests[{name!r}] is malformed: {exc!r}") from exc
        for tag, digest in tags.items():
            if digest not in manifests:
                raise ValueError(
                    f"{name}:{tag} points at {digest}, which is not stored"
                )
        repositories[name] = Repository(tags, manifests)

    blobs = {}
    for digest, value in data.get("blobs", {}).items():
        if isinstance(value, str):
            blobs[digest] = value.encode()
        elif isinstance(value, dict) and isinstance(value.get("base64"), str):
            blobs[digest] = base64.b64decode(value["base64"])
        else:
            raise ValueError(f"blobs[{digest!r}] must be text or {{'base64': ...}}")
    return repositories, blobs


@dataclass
class Quota:
    """The pull quota: ``limit`` None means unlimited (a paid account)."""

    limit: int | None = DEFAULT_PULL_LIMIT
    remaining: int = DEFAULT_PULL_LIMIT
    window: int = DEFAULT_PULL_WINDOW
    started: float = field(default_factory=time.monotonic)

    def refill_if_due(self) -> None:
        # A fixed window from the last reset; Docker Hub's is rolling, but
        # either way a client must read the window from the header.
        if self.limit is not None and time.monotonic() - self.started >= self.window:
            self.remaining = self.limit
            self.started = time.monotonic()

    def headers(self, source: str) -> dict[str, str]:
        if self.limit is None:
            return {}
        return {
            "ratelimit-limit": f"{self.limit};w={self.window}",
            "ratelimit-remaining": f"{self.remaining};w={self.window}",
            "docker-ratelimit-source": source,
        }

    def as_dict(self) -> dict[str, int | None]:
        return {"limit": self.limit, "remaining": self.remaining, "window": self.window}


@dataclass(frozen=True)
class Grant:
    expires_at: float
    repositories: frozenset[str]


class FakeState:
    """What both servers share: the content, tokens, quota and counters."""

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        realm: str | None = None,
        service: str = DEFAULT_SERVICE,
        token_ttl: int = DEFAULT_TOKEN_TTL,
        quota: Quota | None = None,
    ) -> None:
        self.repositories, self.blobs = load_data(data)
        self.realm = realm
        self.service = service
        self.token_ttl = token_ttl
        self.quota = quota or Quota()
        self.cdn_url = ""
        self.lock = threading.Lock()
        self.grants: dict[str, Grant] = {}
        self.counts: Counter[str] = Counter()
        self.status: Counter[str] = Counter()
        self.secret = secrets.token_bytes(16)

    def count(self, name: str) -> None:
        with self.lock:
            self.counts[name] += 1

    def issue(self, scopes: Sequence[Scope]) -> str:
        # Like Docker Hub, a token grants pull only on repositories that
        # exist; for any other name the registry then answers 401.
        names = frozenset(
            s.name
            for s in scopes
            if s.type == "repository"
            and "pull" in s.actions
            and s.name in self.repositories
        )
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.grants[token] = Grant(time.monotonic() + self.token_ttl, names)
        return token

    def allows(self, token: str, repository: str | None) -> tuple[bool, str]:
        """Whether ``token`` may pull ``repository``; the error name if not."""
        with self.lock:
            grant = self.grants.get(token)
        if grant is None:
            grant = self._foreign_grant(token)
        if grant is None or grant.expires_at <= time.monotonic():
            return False, "invalid_token"
        if repository is not None and repository not in grant.repositories:
            return False, "insufficient_scope"
        return True, ""

    def _foreign_grant(self, token: str) -> Grant | None:
        # With --realm pointing at another token service (tokens.py), the
        # token is a JWT the fake cannot verify without that service's
        # certificate; it still honours the claims that matter to a client:
        # expiry and the repositories granted pull.
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        names = frozenset(
            entry.get("name", "")
            for entry in claims.get("access", [])
            if entry.get("type") == "repository" and "pull" in entry.get("actions", [])
        )
        remaining = float(claims.get("exp", 0)) - time.time()
        return Grant(time.monotonic() + remaining, names)

    def cdn_location(self, digest: str) -> str:
        hex_digest = digest.removeprefix("sha256:")
        return (
            f"{self.cdn_url}/registry-v2/docker/registry/v2/blobs/sha256/"
            f"{hex_digest[:2]}/{hex_digest}/data?verify={self.signature(digest)}"
        )

    def signature(self, digest: str) -> str:
        return hmac.new(self.secret, digest.encode(), hashlib.sha256).hexdigest()[:32]

    def stats(self) -> dict[str, Any]:
        with self.lock:
            answer: dict[str, Any] = {key: self.counts[key] for key in STAT_KEYS}
            answer["status"] = dict(self.status)
            answer["quota"] = self.quota.as_dict()
        return answer


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        state: FakeState,
    ) -> None:
        super().__init__(address, handler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class Handler(BaseHTTPRequestHandler):
    server: FakeServer
    protocol_version = "HTTP/1.1"

    @property
    def state(self) -> FakeState:
        return self.server.state

    def respond(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str = "application/json",
        head: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def respond_json(
        self,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.respond(status, json.dumps(payload).encode(), headers)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class RegistryHandler(Handler):
    """The registry port: ``/token``, ``/v2/...`` and ``/_standin/...``."""

    def send_response(self, code: int, message: str | None = None) -> None:
        if not self.path.startswith("/_standin/"):
            with self.state.lock:
                self.state.status[str(code)] += 1
        super().send_response(code, message)

    def do_GET(self) -> None:
        self.route(head=False)

    def do_HEAD(self) -> None:
        self.route(head=True)

    def do_PUT(self) -> None:
        if urlsplit(self.path).path == "/_standin/pulls":
            self.set_pulls()
        else:
            self.respond_json(
                HTTPStatus.METHOD_NOT_ALLOWED,
                error_body("UNSUPPORTED", "read-only fake"),
            )

    def route(self, *, head: bool) -> None:
        url = urlsplit(self.path)
        path = url.path
        query = parse_qs(url.query)
        if path == "/_standin/stats" and not head:
            self.respond_json(HTTPStatus.OK, self.state.stats())
        elif path == "/token" and not head:
            self.answer_token(query)
        elif path in ("/v2", "/v2/"):
            if self.authorize(None):
                self.respond_json(HTTPStatus.OK, {})
        elif path.startswith("/v2/"):
            self.route_repository(path[len("/v2/") :], query, head=head)
        else:
            self.respond_json(
                HTTPStatus.NOT_FOUND, error_body("NOT_FOUND", "not found")
            )

    def route_repository(
        self, rest: str, query: dict[str, list[str]], *, head: bool
    ) -> None:
        name, _, reference = rest.rpartition("/")
        name, _, kind = name.rpartition("/")
        if rest.endswith("/tags/list"):
            name = rest.removesuffix("/tags/list")
            if self.authorize(name):
                self.list_tags(name, query, head=head)
        elif kind == "manifests" and name:
            if self.authorize(name):
                self.answer_manifest(name, reference, head=head)
        elif kind == "blobs" and name:
            if self.authorize(name):
                self.answer_blob(reference, head=head)
        else:
            self.respond_json(
                HTTPStatus.NOT_FOUND, error_body("NOT_FOUND", "not found")
            )

    def answer_token(self, query: dict[str, list[str]]) -> None:
        self.state.count("token")
        if self.headers.get("Authorization", "").lower().startswith("basic "):
            # The fake accepts any account; it only notes that one was used.
            self.state.count("token_authenticated")
        try:
            scopes = [Scope.parse(t) for v in query.get("scope", []) for t in v.split()]
        except ValueError as exc:
            self.respond_json(HTTPStatus.BAD_REQUEST, {"details": str(exc)})
            return
        token = self.state.issue(scopes)
        issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.respond_json(
            HTTPStatus.OK,
            {
                "token": token,
                "access_token": token,
                "expires_in": self.state.token_ttl,
                "issued_at": issued_at,
            },
        )

    def authorize(self, repository: str | None) -> bool:
        """Check the Bearer token; answer 401 with a challenge if it falls short."""
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token:
            allowed, error = self.state.allows(token.strip(), repository)
            if allowed:
                return True
        else:
            if header:
                self.state.count("credentials_to_registry")
            error = ""

        state = self.state
        realm = state.realm or f"{self.server.url}/token"
        challenge = f'Bearer realm="{realm}",service="{state.service}"'
        detail = None
        if repository is not None:
            challenge += f',scope="repository:{repository}:pull"'
            detail = [
                {
                    "Type": "repository",
                    "Class": "",
                    "Name": repository,
                    "Action": "pull",
                }
            ]
        if error:
            challenge += f',error="{error}"'
        self.respond_json(
            HTTPStatus.UNAUTHORIZED,
            error_body("UNAUTHORIZED", "authentication required", detail),
            {"WWW-Authenticate": challenge},
        )
        return False

    def answer_manifest(self, name: str, reference: str, *, head: bool) -> None:
        state = self.state
        state.count("manifest_head" if head else "manifest_get")
        with state.lock:
            state.quota.refill_if_due()
            quota_headers = state.quota.headers(self.client_address[0])
            exhausted = state.quota.limit is not None and state.quota.remaining <= 0
        if exhausted and not head:
            self.respond_json(
                HTTPStatus.TOO_MANY_REQUESTS, TOO_MANY_REQUESTS, quota_headers
            )
            return

        repository = state.repositories.get(name)
        found = None if repository is None else repository.resolve(reference)
        if found is None or found[1].media_type not in self.accepted_types():
            # Docker Hub answers a type the client did not accept the same
            # way as a manifest that does not exist.
            body = error_body(
                "MANIFEST_UNKNOWN", "manifest unknown", {"Tag": reference}
            )
            self.respond(
                HTTPStatus.NOT_FOUND,
                json.dumps(body).encode(),
                quota_headers,
                head=head,
            )
            return

        digest, manifest = found
        if not head:
            with state.lock:
                if state.quota.limit is not None:
                    state.quota.remaining -= 1
                quota_headers = state.quota.headers(self.client_address[0])
        headers = {
            "Docker-Content-Digest": digest,
            "Etag": f'"{digest}"',
            "Docker-Distribution-Api-Version": "registry/2.0",
            **quota_headers,
        }
        self.respond(
            HTTPStatus.OK,
            manifest.body,
            headers,
            content_type=manifest.media_type,
            head=head,
        )

    def accepted_types(self) -> set[str]:
        # A client may send several Accept headers, each a comma list.
        values = self.headers.get_all("Accept") or []
        types = {
            part.split(";")[0].strip() for value in values for part in value.split(",")
        }
        if "*/*" in types:
            return {
                m.media_type
                for r in self.state.repositories.values()
                for m in r.manifests.values()
            }
        # Without an Accept header, a v2 registry speaks schema 1 only.
        return types or {SCHEMA1_SIGNED}

    def answer_blob(self, digest: str, *, head: bool) -> None:
        state = self.state
        blob = state.blobs.get(digest)
        if blob is None:
            body = error_body("BLOB_UNKNOWN", "blob unknown to registry", digest)
            self.respond(HTTPStatus.NOT_FOUND, json.dumps(body).encode(), head=head)
            return
        if head:
            headers = {"Docker-Content-Digest": digest, "Etag": f'"{digest}"'}
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(blob)))
            for header, value in headers.items():
                self.send_header(header, value)
            self.end_headers()
            return
        state.count("blob_get")
        self.respond(
            HTTPStatus.TEMPORARY_REDIRECT,
            headers={"Location": state.cdn_location(digest)},
            content_type="text/html; charset=utf-8",
        )

    def list_tags(self, name: str, query: dict[str, list[str]], *, head: bool) -> None:
        self.state.count("tags_list")
        repository = self.state.repositories.get(name)
        if repository is None:
            error = error_body("NAME_UNKNOWN", "repository name not known to registry")
            self.respond(HTTPStatus.NOT_FOUND, json.dumps(error).encode(), head=head)
            return
        tags = sorted(repository.tags)
        last = query.get("last", [""])[0]
        if last:
            tags = [tag for tag in tags if tag > last]
        headers = {}
        n_values = query.get("n", [])
        if n_values and n_values[0].isdigit():
            n = int(n_values[0])
            if len(tags) > n:
                tags = tags[:n]
                # Relative, as Docker Hub sends it.
                next_query = urlencode({"last": tags[-1], "n": n})
                headers["Link"] = f'</v2/{name}/tags/list?{next_query}>; rel="next"'
        body = json.dumps({"name": name, "tags": tags}).encode()
        self.respond(HTTPStatus.OK, body, headers, head=head)

    def set_pulls(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        try:
            update = json.loads(self.rfile.read(length) or b"{}")
            with self.state.lock:
                quota = self.state.quota
                if "limit" in update:
                    quota.limit = (
                        None if update["limit"] is None else int(update["limit"])
                    )
                    quota.remaining = quota.limit or 0
                if "remaining" in update:
                    quota.remaining = int(update["remaining"])
                if "window" in update:
                    quota.window = int(update["window"])
                quota.started = time.monotonic()
                answer = quota.as_dict()
        except (ValueError, TypeError) as exc:
            self.respond_json(HTTPStatus.BAD_REQUEST, {"details": f"bad quota: {exc}"})
            return
        self.respond_json(HTTPStatus.OK, answer)


class CdnHandler(Handler):
    """The second host blob GETs are redirected to, like Docker Hub's CDN."""

    def do_GET(self) -> None:
        state = self.state
        state.count("cdn_get")
        if "Authorization" in self.headers:
            state.count("cdn_rejected_auth")
            self.respond(
                HTTPStatus.BAD_REQUEST, ONE_AUTH_ONLY, content_type="application/xml"
            )
            return

        url = urlsplit(self.path)
        parts = url.path.split("/")
        digest = f"sha256:{parts[-2]}" if len(parts) >= 2 else ""
        verify = parse_qs(url.query).get("verify", [""])[0]
        blob = state.blobs.get(digest)
        if blob is None:
            self.respond(HTTPStatus.NOT_FOUND, b"not found", content_type="text/plain")
        elif not hmac.compare_digest(verify, state.signature(digest)):
            self.respond(HTTPStatus.FORBIDDEN, b"bad verify", content_type="text/plain")
        else:
            self.respond(HTTPStatus.OK, blob, content_type="application/octet-stream")


# The standard data file. Layers are real gzip tars (base64 in the file);
# configs and manifests are text.


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _schema1_key() -> ec.EllipticCurvePrivateKey:
    # A fixed key, so every build signs with the same ``kid``; ECDSA still
    # makes each signature differ, which schema 1 allows: the digest covers
    # the payload without its signatures.
    seed = hashlib.sha256(b"standin schema 1 signing key").digest()
    return ec.derive_private_key(int.from_bytes(seed, "big"), ec.SECP256R1())


def _libtrust_kid(key: ec.EllipticCurvePublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def sign_schema1(manifest: Mapping[str, Any]) -> tuple[str, str]:
    """Sign a schema 1 manifest the way libtrust does; return (body, digest).

    The body is the pretty-printed payload with a ``signatures`` member
    spliced in before its closing brace; the digest is that of the payload
    alone, which is what ``Docker-Content-Digest`` names for schema 1.
    """
    payload = json.dumps(manifest, indent=3).encode()
    format_length = payload.rindex(b"\n}")
    protected = _b64url(
        json.dumps(
            {
                "formatLength": format_length,
                "formatTail": _b64url(payload[format_length:]),
                "time": FIXED_CREATED,
            },
            separators=(",", ":"),
        ).encode()
    )
    key = _schema1_key()
    signing_input = f"{protected}.{_b64url(payload)}".encode()
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    numbers = key.public_key().public_numbers()
    signature = {
        "header": {
            "jwk": {
                "crv": "P-256",
                "kid": _libtrust_kid(key.public_key()),
                "kty": "EC",
                "x": _b64url(numbers.x.to_bytes(32, "big")),
                "y": _b64url(numbers.y.to_bytes(32, "big")),
            },
            "alg": "ES256",
        },
        "signature": _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
        "protected": protected,
    }
    signatures = json.dumps([signature], indent=3).replace("\n", "\n   ")
    body = (
        payload[:format_length].decode()
        + f',\n   "signatures": {signatures}'
        + payload[format_length:].decode()
    )
    return body, sha256_digest(payload)


class _DataBuilder:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {"manifests": {}, "blobs": {}}

    def blob(self, data: bytes, *, text: bool = False) -> str:
        digest = sha256_digest(data)
        self.data["blobs"][digest] = (
            data.decode() if text else {"base64": base64.b64encode(data).decode()}
        )
        return digest

    def manifest(
        self,
        repository: str,
        media_type: str,
        body: str,
        digest: str,
        tags: Sequence[str] = (),
    ) -> None:
        entry = self.data["manifests"].setdefault(
            repository, {"tags": {}, "manifests": {}}
        )
        entry["manifests"][digest] = {"media_type": media_type, "body": body}
        for tag in tags:
            entry["tags"][tag] = digest

    def image(self, repository: str, image: Image) -> None:
        self.blob(image.config.data, text=True)
        for layer in image.layers:
            self.blob(layer.data)
        manifest = image.manifest
        self.manifest(
            repository, manifest.media_type, manifest.data.decode(), manifest.digest
        )


def _add_schema1(builder: _DataBuilder) -> None:
    commands = [
        "/bin/sh -c #(nop) ADD file:4b03b5f551e3fbdf47ec6097 in / ",
        "/bin/sh -c apk add --no-cache curl",
        "/bin/sh -c #(nop) COPY file:0d6ec3e1b3b4a6b1 in /usr/local/bin/ ",
    ]
    layers = [
        tar_gzip_layer(
            {f"layer{i}/file.txt": f"schema 1 layer {i}\n".encode()}, command
        )
        for i, command in enumerate(commands)
    ]
    # v1Compatibility ids chain each layer to its parent, oldest first.
    entries: list[dict[str, Any]] = []
    parent = ""
    for i, (layer, command) in enumerate(zip(layers, commands, strict=True)):
        layer_id = hashlib.sha256(
            f"{parent}|{sha256_digest(layer.data)}".encode()
        ).hexdigest()
        entry: dict[str, Any] = {"id": layer_id}
        if parent:
            entry["parent"] = parent
        entry["created"] = f"2016-0{i + 1}-15T10:00:00.000000000Z"
        entry["container_config"] = {"Cmd": [command]}
        entries.append(entry)
        parent = layer_id
    entries[-1].update(
        {
            "architecture": "amd64",
            "os": "linux",
            "docker_version": "1.12.6",
            "config": {
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                "Cmd": ["/bin/sh"],
            },
        }
    )

    manifest = {
        "schemaVersion": 1,
        "name": "legacy/old",
        "tag": "1",
        "architecture": "amd64",
        # Schema 1 lists layers newest first, unlike every later format.
        "fsLayers": [
            {"blobSum": builder.blob(layer.data)} for layer in reversed(layers)
        ],
        "history": [
            {"v1Compatibility": json.dumps(entry, separators=(",", ":"))}
            for entry in reversed(entries)
        ],
    }
    body, digest = sign_schema1(manifest)
    builder.manifest("legacy/old", SCHEMA1_SIGNED, body, digest, ["1"])


def _windows_image(os_version: str, update: Layer) -> Image:
    platform = Platform("windows", "amd64", os_version=os_version)
    # The base layer lives on Microsoft's servers, not in the registry: it is
    # named by URL and its blob is deliberately absent from the data file.
    foreign_digest = sha256_digest(f"windows servercore base {os_version}".encode())
    foreign = {
        "mediaType": DOCKER_FOREIGN_LAYER,
        "size": 1_502_000_000 + int(os_version.rsplit(".", 1)[1]),
        "digest": foreign_digest,
        "urls": [
            f"https://mcr.microsoft.com/v2/windows/servercore/blobs/{foreign_digest}"
        ],
    }
    # Only the config needs the foreign layer's diff_id; no bytes are made.
    base_diff_id = sha256_digest(f"diff {os_version}".encode())
    base = Layer(b"", base_diff_id, f"Apply image {os_version}")
    recipe = Recipe(cmd=("cmd", "/S", "/C"), workdir="C:\\")
    config = image_config(platform, [base, update], recipe)
    config = Blob(DOCKER_CONFIG, config.data)
    layer = Blob(DOCKER_LAYER, update.data)
    value = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config.descriptor(),
        "layers": [foreign, layer.descriptor()],
    }
    manifest = Blob(DOCKER_MANIFEST, canonical_json(value))
    return Image(platform, manifest, config, (layer,))


def _add_windows(builder: _DataBuilder) -> None:
    update = tar_gzip_layer(
        {"Files/standin.txt": b"windows update\n"}, "cmd /S /C echo"
    )
    images = [_windows_image(v, update) for v in ("10.0.17763.5576", "10.0.20348.2340")]
    for image in images:
        builder.image("win/servercore", image)
    index = image_index(DOCKER, images)
    builder.manifest(
        "win/servercore", DOCKER_LIST, index.data.decode(), index.digest, ["ltsc"]
    )


def _add_manifest_list(builder: _DataBuilder) -> None:
    images = [
        build_image(
            DOCKER,
            platform,
            [base_layer(arch), app_layer("hello")],
            Recipe(cmd=("/app/hello.sh",)),
        )
        for platform, arch in (
            (Platform("linux", "amd64"), "amd64"),
            (Platform("linux", "arm64", "v8"), "arm64"),
        )
    ]
    for image in images:
        builder.image("library/hello", image)
    index = image_index(DOCKER, images)
    builder.manifest(
        "library/hello", DOCKER_LIST, index.data.decode(), index.digest, ["latest"]
    )


def fixture_data() -> dict[str, Any]:
    """The standard data: ``legacy/old:1`` (schema 1, three layers),
    ``win/servercore:ltsc`` (a manifest list of two Windows versions whose
    base layer is foreign) and ``library/hello:latest`` (a Docker manifest
    list for linux/amd64 and linux/arm64/v8 with configs and layers)."""
    builder = _DataBuilder()
    _add_schema1(builder)
    _add_windows(builder)
    _add_manifest_list(builder)
    return builder.data


def write_fixture_data(path: str | Path) -> dict[str, Any]:
    data = fixture_data()
    Path(path).write_text(json.dumps(data, indent=1))
    return data


class FakeRegistry:
    """Runs ``python -m standin.registry.fake`` for the length of a ``with``.

    ``data`` defaults to ``fixture_data()``; it is written to a temporary
    file. Options mirror the command line.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        realm: str | None = None,
        service: str = DEFAULT_SERVICE,
        token_ttl: int = DEFAULT_TOKEN_TTL,
        pull_limit: int = DEFAULT_PULL_LIMIT,
        pull_window: int = DEFAULT_PULL_WINDOW,
        unlimited: bool = False,
        startup_timeout: float = 10.0,
    ) -> None:
        self.data = dict(fixture_data() if data is None else data)
        self.service = service
        self.url = ""
        self.cdn_url = ""
        self.realm = realm or ""
        self._args = [
            "--port", "0",
            "--cdn-port", "0",
            "--service", service,
            "--token-ttl", str(token_ttl),
            "--pull-limit", str(pull_limit),
            "--pull-window", str(pull_window),
        ]  # fmt: skip
        if realm:
            self._args += ["--realm", realm]
        if unlimited:
            self._args.append("--unlimited")
        self.startup_timeout = startup_timeout
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: ServerProcess | None = None

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
        self._tempdir = tempfile.TemporaryDirectory(prefix="standin-fake-")
        workdir = Path(self._tempdir.name)
        data_path = workdir / "data.json"
        data_path.write_text(json.dumps(self.data))
        self._process = ServerProcess(
            "standin.registry.fake",
            [*self._args, "--data", str(data_path)],
            log_path=workdir / "fake.log",
            banners=2,
            timeout=self.startup_timeout,
        )
        try:
            self.url, self.cdn_url = self._process.start()
        except BaseException:
            self.stop()
            raise
        self.realm = self.realm or f"{self.url}/token"

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._call("GET", "/_standin/stats")
        return stats

    def set_pulls(
        self,
        *,
        limit: int | Literal["keep"] | None = "keep",
        remaining: int | None = None,
        window: int | None = None,
    ) -> dict[str, Any]:
        """Set the pull quota; ``limit=None`` makes pulls unlimited."""
        update: dict[str, Any] = {}
        if limit != "keep":
            update["limit"] = limit
        if remaining is not None:
            update["remaining"] = remaining
        if window is not None:
            update["window"] = window
        quota: dict[str, Any] = self._call("PUT", "/_standin/pulls", update)
        return quota

    def token(self, repository: str) -> str:
        """An anonymous pull token for ``repository`` from the realm."""
        answer = request_token(
            self.realm, self.service, [f"repository:{repository}:pull"]
        )
        token: str = answer["token"]
        return token


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m standin.registry.fake")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cdn-port", type=int, default=0)
    parser.add_argument(
        "--data", required=True, help="JSON data file, see the module docstring"
    )
    parser.add_argument(
        "--realm", help="token realm to announce; default: our own /token"
    )
    parser.add_argument("--service", default=DEFAULT_SERVICE)
    parser.add_argument("--token-ttl", type=int, default=DEFAULT_TOKEN_TTL)
    parser.add_argument("--pull-limit", type=int, default=DEFAULT_PULL_LIMIT)
    parser.add_argument("--pull-window", type=int, default=DEFAULT_PULL_WINDOW)
    parser.add_argument(
        "--unlimited", action="store_true", help="no quota and no quota headers"
    )
    args = parser.parse_args(argv)
    for option in ("token_ttl", "pull_window"):
        value = getattr(args, option)
        if value <= 0:
            flag = "--" + option.replace("_", "-")
            parser.error(f"{flag} must be a positive number of seconds, not {value}")
    if args.pull_limit < 0:
        parser.error(f"--pull-limit must be 0 or more, not {args.pull_limit}")

    try:
        data = json.loads(Path(args.data).read_text())
        quota = Quota(
            None if args.unlimited else args.pull_limit,
            args.pull_limit,
            args.pull_window,
        )
        state = FakeState(
            data,
            realm=args.realm,
            service=args.service,
            token_ttl=args.token_ttl,
            quota=quota,
        )
    except (OSError, ValueError) as exc:
        parser.error(f"--data {args.data}: {exc}")

    logging.basicConfig(level=logging.WARNING)
    registry = FakeServer(("127.0.0.1", args.port), RegistryHandler, state)
    cdn = FakeServer(("127.0.0.1", args.cdn_port), CdnHandler, state)
    state.cdn_url = cdn.url
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    print(f"listening on {registry.url}", flush=True)
    print(f"cdn on {cdn.url}", flush=True)
    # Ctrl-C is the normal way to stop it by hand.
    with contextlib.suppress(KeyboardInterrupt):
        registry.serve_forever()
    cdn.shutdown()


if __name__ == "__main__":
    main()
