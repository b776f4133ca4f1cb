"""Obtain registry bearer tokens and attach them to registry requests.

A registry request first goes out bare (or with a cached token for its
scope).  A 401 carrying ``WWW-Authenticate: Bearer realm=..,service=..,
scope=..`` makes this middleware fetch a token from the realm through
Scrapy's own downloader (the reactor never blocks), cache it per scope and
replay the request.  Concurrent 401s for one scope share one token fetch.

Credentials go only to the token service named by ``DOCKERHUB_AUTH_URL``;
tokens go only to the registry host.  A blob GET that the registry
redirects to its CDN leaves without ``Authorization``: the CDN refuses such
requests, and the token must not leak there.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet.defer import Deferred
from w3lib.http import basic_auth_header

from dockerhub import meta as meta_keys
from dockerhub.config import get_str, get_url
from dockerhub.exceptions import SettingError
from dockerhub.tokens import (
    Challenge,
    TokenCache,
    parse_challenge,
    redact,
    scope_for_path,
)

logger = logging.getLogger(__name__)

#: Token fetches per request: the first, and one refresh if it is rejected.
MAX_TOKEN_FETCHES = 2
ATTEMPTS_META = "dockerhub_token_fetches"


class CredentialsRejected(IgnoreRequest):
    """The token service refused ``DOCKERHUB_USERNAME``/``DOCKERHUB_TOKEN``."""


class RegistryAuthMiddleware:
    def __init__(
        self,
        crawler: Crawler,
        registry_url: str,
        auth_url: str,
        credentials: tuple[str, str] | None,
    ) -> None:
        self.crawler = crawler
        self.registry_host = urlsplit(registry_url).netloc.lower()
        self.auth_host = urlsplit(auth_url).netloc.lower()
        self.credentials = credentials
        self.tokens = TokenCache()
        self._waiting: dict[str, list[Deferred[str | None]]] = {}
        self._warned_realms: set[str] = set()
        self._credentials_rejected = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RegistryAuthMiddleware:
        settings = crawler.settings
        username = get_str(settings, "DOCKERHUB_USERNAME") or os.environ.get(
            "DOCKERHUB_USERNAME", ""
        )
        secret = get_str(settings, "DOCKERHUB_TOKEN") or os.environ.get(
            "DOCKERHUB_TOKEN", ""
        )
        if bool(username) != bool(secret):
            # Never echo the secret: name the settings, show no value.
            raise SettingError(
                "DOCKERHUB_USERNAME/DOCKERHUB_TOKEN",
                "(one of the two is empty)",
                "both set (a Docker ID and an access token) or both empty",
            )
        return cls(
            crawler,
            registry_url=get_url(settings, "DOCKERHUB_REGISTRY_URL"),
            auth_url=get_url(settings, "DOCKERHUB_AUTH_URL"),
            credentials=(username, secret) if username else None,
        )

    @property
    def stats(self) -> StatsCollector:
        assert self.crawler.stats is not None
        return self.crawler.stats

    def is_registry(self, request: Request) -> bool:
        return urlsplit(request.url).netloc.lower() == self.registry_host

    def process_request(self, request: Request) -> None:
        if not self.is_registry(request):
            if request.meta.get(meta_keys.REGISTRY):
                # A registry request redirected elsewhere (the blob CDN).
                request.headers.pop(b"Authorization", None)
            return
        if self._credentials_rejected:
            raise CredentialsRejected("registry credentials were rejected")
        request.meta[meta_keys.REGISTRY] = True
        scope = scope_for_path(urlsplit(request.url).path)
        token = self.tokens.get(scope) if scope else None
        if token is not None:
            request.headers[b"Authorization"] = f"Bearer {token}"
        else:
            request.headers.pop(b"Authorization", None)

    async def process_response(
        self, request: Request, response: Response
    ) -> Request | Response:
        if response.status != 401 or not self.is_registry(request):
            return response
        header = response.headers.get(b"WWW-Authenticate")
        challenge = parse_challenge(header.decode("latin-1") if header else None)
        if challenge is None:
            return response
        path_scope = scope_for_path(urlsplit(request.url).path)
        scope = challenge.scope or path_scope or challenge.realm
        fetches = request.meta.get(ATTEMPTS_META, 0)
        if fetches >= MAX_TOKEN_FETCHES:
            logger.error(
                "Registry refused a fresh token for %(scope)s twice; giving up "
                "on %(url)s",
                {"scope": scope, "url": request.url},
            )
            self.stats.inc_value("dockerhub/registry/token_rejected")
            return response
        sent = request.headers.get(b"Authorization")
        if sent and sent.startswith(b"Bearer "):
            # The token we sent was refused (expired or lacking access): get
            # a fresh one.  A request that went out bare, before a concurrent
            # fetch finished, simply takes the cached token.
            self.stats.inc_value("dockerhub/registry/token_refreshed")
            for key in {scope, path_scope}:
                if key and self.tokens.get(key) == sent[7:].decode("latin-1"):
                    self.tokens.drop(key)
        token = await self.token_for(challenge, scope)
        if token is None:
            return response
        if path_scope and path_scope != scope:
            self.tokens.put(path_scope, token, None)
        retry = request.replace(dont_filter=True)
        retry.meta[ATTEMPTS_META] = fetches + 1
        return retry

    async def token_for(self, challenge: Challenge, scope: str) -> str | None:
        """A token for ``scope``, sharing one fetch among concurrent callers."""
        cached = self.tokens.get(scope)
        if cached is not None:
            return cached
        if scope in self._waiting:
            waiter: Deferred[str | None] = Deferred()
            self._waiting[scope].append(waiter)
            return await maybe_deferred_to_future(waiter)
        self._waiting[scope] = []
        token = None
        try:
            token = await self.fetch_token(challenge, scope)
        finally:
            for waiter in self._waiting.pop(scope):
                waiter.callback(token)
        return token

    async def fetch_token(self, challenge: Challenge, scope: str) -> str | None:
        url = challenge.token_url(scope)
        request = Request(url, dont_filter=True, priority=100)
        with_credentials = self.credentials is not None
        if self.credentials is not None and challenge.realm_host != self.auth_host:
            with_credentials = False
            if challenge.realm_host not in self._warned_realms:
                self._warned_realms.add(challenge.realm_host)
                logger.warning(
                    "Token realm %(realm)s is not DOCKERHUB_AUTH_URL's host; "
                    "asking it anonymously, without your credentials",
                    {"realm": challenge.realm_host},
                )
                self.stats.inc_value("dockerhub/registry/foreign_realm")
        if with_credentials and self.credentials is not None:
            request.headers[b"Authorization"] = basic_auth_header(*self.credentials)
        self.stats.inc_value("dockerhub/registry/token_requests")
        assert self.crawler.engine is not None
        response = await self.crawler.engine.download_async(request)
        if response.status in (401, 403) and with_credentials:
            self.credentials_rejected(response.status)
            return None
        if response.status != 200:
            logger.error(
                "Token service %(realm)s answered HTTP %(status)d for %(scope)s",
                {"realm": challenge.realm, "status": response.status, "scope": scope},
            )
            self.stats.inc_value("dockerhub/registry/token_failed")
            return None
        token, expires_in = _read_token(response.body)
        if token is None:
            logger.error(
                "Token service %(realm)s sent no token for %(scope)s",
                {"realm": challenge.realm, "scope": scope},
            )
            self.stats.inc_value("dockerhub/registry/token_failed")
            return None
        lifetime = self.tokens.put(scope, token, expires_in)
        logger.debug(
            "Token %(token)s for %(scope)s, kept %(lifetime).0f s",
            {"token": redact(token), "scope": scope, "lifetime": lifetime},
        )
        return token

    def credentials_rejected(self, status: int) -> None:
        if self._credentials_rejected:
            return
        self._credentials_rejected = True
        logger.error(
            "The token service rejected DOCKERHUB_USERNAME and DOCKERHUB_TOKEN "
            "(HTTP %(status)d); stopping rather than crawling anonymously",
            {"status": status},
        )
        self.stats.inc_value("dockerhub/registry/credentials_rejected")
        assert self.crawler.engine is not None
        deferred_from_coro(
            self.crawler.engine.close_spider_async(
                reason="registry_credentials_rejected"
            )
        )


def _read_token(body: bytes) -> tuple[str | None, int | None]:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    token = data.get("token") or data.get("access_token")
    expires_in = data.get("expires_in")
    return (
        token if isinstance(token, str) and token else None,
        expires_in if isinstance(expires_in, int) else None,
    )
