"""Registry bearer tokens: challenge parsing and a per-scope cache.

Plain code with no Scrapy, used by the registry auth middleware.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_REPOSITORY_PATH = re.compile(r"^/v2/(.+?)/(?:manifests|blobs|tags)/")

#: ``expires_in`` when the token service does not say (Docker's own default).
DEFAULT_LIFETIME = 60


@dataclass(frozen=True, slots=True)
class Challenge:
    """A ``WWW-Authenticate: Bearer`` challenge from the registry."""

    realm: str
    service: str | None
    scope: str | None

    def token_url(self, fallback_scope: str | None = None) -> str:
        params = {}
        if self.service:
            params["service"] = self.service
        scope = self.scope or fallback_scope
        if scope:
            params["scope"] = scope
        separator = "&" if "?" in self.realm else "?"
        return f"{self.realm}{separator}{urlencode(params)}" if params else self.realm

    @property
    def realm_host(self) -> str:
        return urlsplit(self.realm).netloc.lower()


def parse_challenge(header: str | None) -> Challenge | None:
    """The Bearer challenge in a ``WWW-Authenticate`` value, or None."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    params = {
        name.lower(): (quoted if quoted is not None else bare).replace('\\"', '"')
        for name, quoted, bare in _PARAM.findall(rest)
    }
    realm = params.get("realm")
    if not realm or urlsplit(realm).scheme not in ("http", "https"):
        return None
    return Challenge(
        realm=realm, service=params.get("service"), scope=params.get("scope")
    )


def scope_for_path(path: str) -> str | None:
    """``repository:NAME:pull`` for a registry API path about one repository."""
    match = _REPOSITORY_PATH.match(path)
    return f"repository:{match.group(1)}:pull" if match else None


def redact(token: str) -> str:
    """Enough of a token to tell two apart in a log, and no more."""
    return f"{token[:6]}…" if len(token) > 12 else "…"


@dataclass(slots=True)
class _Entry:
    token: str
    expires_at: float


class TokenCache:
    """Tokens per scope, dropped shortly before they expire.

    The margin (a tenth of the lifetime, at most 30 s) keeps a request from
    leaving with a token that expires on its way.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[str, _Entry] = {}

    def put(self, scope: str, token: str, expires_in: int | None) -> float:
        lifetime = expires_in if expires_in and expires_in > 0 else DEFAULT_LIFETIME
        margin = min(30.0, lifetime / 10)
        self._tokens[scope] = _Entry(token, self._clock() + lifetime - margin)
        return lifetime - margin

    def get(self, scope: str) -> str | None:
        entry = self._tokens.get(scope)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            del self._tokens[scope]
            return None
        return entry.token

    def drop(self, scope: str) -> None:
        self._tokens.pop(scope, None)

    def __len__(self) -> int:
        return len(self._tokens)
