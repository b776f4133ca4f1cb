"""Proxy rotation through scrapy-rotating-proxies, wrapped for Scrapy 2.14+.

Both middlewares are always listed in settings.py and raise NotConfigured
unless ``ROTATING_PROXY_LIST`` or ``ROTATING_PROXY_LIST_PATH`` names a proxy
(see :mod:`dockerhub.middlewares.proxy_list`).  The plugin still does the
work: it picks a random live proxy per request, rests a banned proxy for a
random time that doubles with each ban (``ROTATING_PROXY_BACKOFF_BASE`` up
to ``ROTATING_PROXY_BACKOFF_CAP``), brings it back afterwards and sends a
banned request again through another proxy.  The wrappers change four
things:

- Scrapy 2.14+ calls middleware methods without ``spider``; the plugin's
  methods still require it, which makes Scrapy warn at every start.  The
  wrappers take no ``spider`` and pass the plugin the crawler's spider.
- The plugin logs proxy URLs, credentials included.  Here it only ever
  sees ``scheme://host:port``: the wrapper keeps the credentials and sets
  ``Proxy-Authorization`` itself.  ``request.meta["proxy"]`` therefore never
  holds a password either, and every middleware after this one (the Hub
  rate limiter keys its per-proxy state on it) sees one stable value per
  proxy, before and after HttpProxyMiddleware.
- The plugin names a proxy's download slot after its host alone, so several
  proxies on one address (ports of one provider's gateway) would share one
  slot's concurrency and delay.  The slot is ``host:port`` instead.
- When every proxy is resting, the plugin calls the deprecated
  ``Logger.warn`` and raises CloseSpider from a downloader middleware, where
  Scrapy takes it for a failed download.  The wrapper deals with that case
  before the plugin can meet it.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Self

from rotating_proxies.middlewares import (
    BanDetectionMiddleware,
    RotatingProxyMiddleware,
)
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import deferred_from_coro

from dockerhub.middlewares.proxy_list import (
    LIST_SETTING,
    PATH_SETTING,
    Proxy,
    RotationSettings,
    mask_proxy_url,
    read_rotation_settings,
)

logger = logging.getLogger(__name__)

#: The plugin's meta keys: its mark on a request it sent through a proxy,
#: and the ban policy's verdict on the request's answer or failure.
ROTATED_META = "_rotating_proxy"
BAN_META = "_ban"
CLOSE_REASON = "no_proxies"
#: Proxies named in the start-up line; a long list is summed up after these.
SHOWN_PROXIES = 5
#: Seconds between two warnings that every proxy is resting; the counter
#: dockerhub/proxies/revived_all still counts each time.
REVIVE_WARNING_INTERVAL = 60.0


class RotatingProxies:
    """Sends each request through a random live proxy of the list."""

    def __init__(self, crawler: Crawler, config: RotationSettings) -> None:
        self.crawler = crawler
        self.proxies = {proxy.url: proxy for proxy in config.proxies}
        self.close_spider = config.close_spider
        self.plugin = RotatingProxyMiddleware(
            proxy_list=list(self.proxies),
            logstats_interval=config.logstats_interval,
            stop_if_no_proxies=config.close_spider,
            max_proxies_to_try=config.page_retry_times,
            backoff_base=config.backoff_base,
            backoff_cap=config.backoff_cap,
            crawler=crawler,
        )
        self._started = False
        self._closing = False
        self._last_revive_warning: float | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        config = read_rotation_settings(crawler.settings)
        if config is None:
            logger.debug(
                "Proxy rotation is off: neither %(list)s nor %(path)s is set",
                {"list": LIST_SETTING, "path": PATH_SETTING},
            )
            raise NotConfigured
        middleware = cls(crawler, config)
        crawler.signals.connect(
            middleware.engine_started, signal=signals.engine_started
        )
        crawler.signals.connect(
            middleware.engine_stopped, signal=signals.engine_stopped
        )
        logger.info(
            "Rotating requests through %(count)d proxies: %(proxies)s",
            {"count": len(config.proxies), "proxies": _summary(config.proxies)},
        )
        return middleware

    @property
    def stats(self) -> StatsCollector:
        assert self.crawler.stats is not None
        return self.crawler.stats

    @property
    def spider(self) -> Spider | None:
        return self.crawler.spider

    def engine_started(self) -> None:
        # The plugin's periodic summary line and the timer that brings
        # rested proxies back.
        self.stats.set_value("dockerhub/proxies/configured", len(self.proxies))
        self.plugin.engine_started()
        self._started = True

    def engine_stopped(self) -> None:
        if self._started:
            self.plugin.engine_stopped()

    def process_request(self, request: Request) -> None:
        if "proxy" in request.meta and not request.meta.get(ROTATED_META):
            return  # the request chose its own proxy, or none
        self._revive_when_all_rest()
        self.plugin.process_request(request, self.spider)
        proxy = self.proxies[request.meta["proxy"]]
        request.meta["download_slot"] = proxy.hostport
        _authorize(request, proxy)
        self.stats.inc_value("dockerhub/proxies/requests")
        logger.debug(
            "Sending %(request)s through proxy %(proxy)s",
            {"request": request, "proxy": proxy.hostport},
        )

    def process_response(
        self, request: Request, response: Response
    ) -> Request | Response:
        if not request.meta.get(ROTATED_META):
            return response
        result = self.plugin.process_response(request, response, self.spider)
        self._count_ban_outcome(request, result)
        self._publish_pool()
        if isinstance(result, Request | Response):
            return result
        return response

    def process_exception(
        self, request: Request, exception: Exception
    ) -> Request | None:
        if not request.meta.get(ROTATED_META):
            return None
        result = self.plugin.process_exception(request, exception, self.spider)
        self._count_ban_outcome(request, result)
        self._publish_pool()
        return result if isinstance(result, Request) else None

    def _revive_when_all_rest(self) -> None:
        pool = self.plugin.proxies
        if pool.good or pool.unchecked:
            return
        if self.close_spider:
            self._close_for_want_of_proxies()
            raise IgnoreRequest("every proxy is banned or unreachable")
        # The plugin's answer, kept: rather than stall, try every proxy again
        # at once.  With one proxy left banned that means it is asked again
        # at once, so the warning is not repeated for each request.
        now = time.monotonic()
        last = self._last_revive_warning
        if last is None or now - last >= REVIVE_WARNING_INTERVAL:
            self._last_revive_warning = now
            logger.warning(
                "All %(count)d proxies are banned or unreachable; trying them "
                "all again",
                {"count": len(self.proxies)},
            )
        self.stats.inc_value("dockerhub/proxies/revived_all")
        pool.reset()

    def _close_for_want_of_proxies(self) -> None:
        if self._closing:
            return
        self._closing = True
        logger.error(
            "All %(count)d proxies are banned or unreachable; closing the spider "
            "(ROTATING_PROXY_CLOSE_SPIDER is on)",
            {"count": len(self.proxies)},
        )
        self.stats.inc_value("dockerhub/proxies/exhausted")
        assert self.crawler.engine is not None
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=CLOSE_REASON))

    def _publish_pool(self) -> None:
        # The plugin's own proxies/dead is only set when a proxy dies, so it
        # goes stale once rested proxies come back; these are always current.
        pool = self.plugin.proxies
        self.stats.set_value("dockerhub/proxies/alive", len(pool.good | pool.unchecked))
        self.stats.set_value("dockerhub/proxies/resting", len(pool.dead))

    def _count_ban_outcome(self, request: Request, result: object) -> None:
        if request.meta.get(BAN_META) is not True:
            return
        if isinstance(result, Request):
            self.stats.inc_value("dockerhub/proxies/retried")
            return
        self.stats.inc_value("dockerhub/proxies/retries_exhausted")
        logger.debug(
            "Gave up sending %(request)s through other proxies after %(tries)d",
            {"request": request, "tries": request.meta.get("proxy_retry_times", 0)},
        )


class ProxyBanDetection:
    """Asks the ban policy whether a proxied answer or failure is a ban."""

    def __init__(self, crawler: Crawler, plugin: Any) -> None:
        self.crawler = crawler
        self.plugin = plugin
        self._refused_credentials: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        # Reading the settings again checks ROTATING_PROXY_BAN_POLICY before
        # the plugin loads it.
        if read_rotation_settings(crawler.settings) is None:
            raise NotConfigured
        return cls(crawler, BanDetectionMiddleware.from_crawler(crawler))

    @property
    def stats(self) -> StatsCollector:
        assert self.crawler.stats is not None
        return self.crawler.stats

    def process_response(self, request: Request, response: Response) -> Response:
        if request.meta.get(ROTATED_META):
            self.plugin.process_response(request, response, self.crawler.spider)
            if request.meta.get(BAN_META):
                self._record_ban(request, f"status/{response.status}")
                if response.status == 407:
                    self._warn_refused_credentials(request)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        if request.meta.get(ROTATED_META):
            self.plugin.process_exception(request, exception, self.crawler.spider)
            if request.meta.get(BAN_META):
                self._record_ban(request, f"error/{type(exception).__name__}")

    def _record_ban(self, request: Request, kind: str) -> None:
        self.stats.inc_value("dockerhub/proxies/bans")
        self.stats.inc_value(f"dockerhub/proxies/bans/{kind}")
        logger.debug(
            "Proxy %(proxy)s is banned or unreachable (%(kind)s) at %(request)s",
            {"proxy": _proxy_name(request), "kind": kind, "request": request},
        )

    def _warn_refused_credentials(self, request: Request) -> None:
        name = _proxy_name(request)
        if name in self._refused_credentials:
            return
        self._refused_credentials.add(name)
        logger.warning(
            "Proxy %(proxy)s refused its credentials (HTTP 407); check its "
            "entry in the proxy list",
            {"proxy": name},
        )


def _authorize(request: Request, proxy: Proxy) -> None:
    # HttpProxyMiddleware notes in meta["_auth_proxy"] which proxy a
    # Proxy-Authorization header was made for, and drops the header once the
    # request goes to another proxy.  A request resent through a new proxy
    # still carries the old note, which would make it drop the new header;
    # without the note it records the new proxy itself.
    request.meta.pop("_auth_proxy", None)
    if proxy.authorization is not None:
        request.headers[b"Proxy-Authorization"] = proxy.authorization
    elif b"Proxy-Authorization" in request.headers:
        del request.headers[b"Proxy-Authorization"]


def _summary(proxies: list[Proxy]) -> str:
    shown = ", ".join(proxy.shown for proxy in proxies[:SHOWN_PROXIES])
    more = len(proxies) - SHOWN_PROXIES
    return f"{shown} and {more} more" if more > 0 else shown


def _proxy_name(request: Request) -> str:
    """``host:port`` of the request's proxy, as the other log lines name it."""
    proxy = str(request.meta.get("proxy"))
    return proxy.partition("://")[2].rpartition("@")[2] or mask_proxy_url(proxy)
