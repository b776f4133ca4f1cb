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
``standin.registry.fake_data`` builds the standard file. ``GET
/_standin/stats`` counts requests; ``PUT /_standin/pulls`` sets the quota.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import logging
import secrets
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal, Self, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

from ..http import StandInHandler, StandInServer, serve
from ..process import StandIn
from .fake_data import fixture_data
from .push import SCHEMA1_SIGNED
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


class FakeServer(StandInServer):
    def __init__(
        self,
        address: tuple[str, int],
        handler: type[StandInHandler],
        state: FakeState,
    ) -> None:
        super().__init__(address, handler)
        self.state = state


class Handler(StandInHandler):
    server: FakeServer

    @property
    def state(self) -> FakeState:
        return self.server.state

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
            scopes = Scope.parse_query(query.get("scope", []))
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
            [("WWW-Authenticate", challenge)],
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
                HTTPStatus.TOO_MANY_REQUESTS, TOO_MANY_REQUESTS, quota_headers.items()
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
            self.respond_json(
                HTTPStatus.NOT_FOUND, body, quota_headers.items(), head=head
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
            headers.items(),
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
            self.respond_json(HTTPStatus.NOT_FOUND, body, head=head)
            return
        if head:
            headers = [("Docker-Content-Digest", digest), ("Etag", f'"{digest}"')]
            self.respond(
                HTTPStatus.OK,
                blob,
                headers,
                content_type="application/octet-stream",
                head=True,
            )
            return
        state.count("blob_get")
        self.respond(
            HTTPStatus.TEMPORARY_REDIRECT,
            headers=[("Location", state.cdn_location(digest))],
            content_type="text/html; charset=utf-8",
        )

    def list_tags(self, name: str, query: dict[str, list[str]], *, head: bool) -> None:
        self.state.count("tags_list")
        repository = self.state.repositories.get(name)
        if repository is None:
            error = error_body("NAME_UNKNOWN", "repository name not known to registry")
            self.respond_json(HTTPStatus.NOT_FOUND, error, head=head)
            return
        tags = sorted(repository.tags)
        last = query.get("last", [""])[0]
        if last:
            tags = [tag for tag in tags if tag > last]
        headers = {}
        n_values = query.get("n", [])
        if n_values and n_values[0].isdigit() and int(n_values[0]) > 0:
            n = int(n_values[0])
            if len(tags) > n:
                tags = tags[:n]
                # Relative, as Docker Hub sends it.
                next_query = urlencode({"last": tags[-1], "n": n})
                headers["Link"] = f'</v2/{name}/tags/list?{next_query}>; rel="next"'
        body = {"name": name, "tags": tags}
        self.respond_json(HTTPStatus.OK, body, headers.items(), head=head)

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


class FakeRegistry(StandIn):
    """Runs ``python -m standin.registry.fake`` for the length of a ``with``.

    ``data`` defaults to ``fixture_data()``; it is written to a temporary
    file. Options mirror the command line. ``url`` is the registry's address,
    ``cdn_url`` that of the host blob GETs are redirected to.
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
        start_timeout: float = 10.0,
    ) -> None:
        options = [
            "--cdn-port", "0",
            "--service", service,
            "--token-ttl", str(token_ttl),
            "--pull-limit", str(pull_limit),
            "--pull-window", str(pull_window),
        ]  # fmt: skip
        if realm:
            options += ["--realm", realm]
        if unlimited:
            options.append("--unlimited")
        super().__init__(
            "standin.registry.fake",
            *options,
            banners=("listening", "cdn"),
            start_timeout=start_timeout,
        )
        self.data = dict(fixture_data() if data is None else data)
        self.service = service
        self.realm = realm or ""
        self._options = tuple(options)
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def cdn_url(self) -> str:
        return self.urls[1] if len(self.urls) > 1 else ""

    def start(self) -> Self:
        # The data file lives as long as the server, so it joins the
        # arguments only now.
        self._tempdir = tempfile.TemporaryDirectory(prefix="standin-fake-")
        data_path = Path(self._tempdir.name) / "data.json"
        data_path.write_text(json.dumps(self.data))
        self.args = (*self._options, "--data", str(data_path))
        try:
            super().start()
        except BaseException:
            self.stop()
            raise
        self.realm = self.realm or f"{self.url}/token"
        return self

    def stop(self) -> None:
        super().stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def stats(self) -> dict[str, Any]:
        """Requests by kind, answers by status, and the pull quota."""
        return cast("dict[str, Any]", self.control("GET", "/_standin/stats"))

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
        return cast("dict[str, Any]", self.control("PUT", "/_standin/pulls", update))

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
    serve(registry, cdn=cdn)


if __name__ == "__main__":
    main()
