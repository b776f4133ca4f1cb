"""Spend Docker Hub's pull quota with care.

Manifest GETs (requests with ``meta[dockerhub.meta.PULL]``) count against a
quota per IP address or account.  This middleware reads the quota headers
on every registry answer, keeps per-proxy accounts (the quota follows the
address a request leaves from), and stops manifest GETs when the quota is
down to ``DOCKERHUB_PULL_RESERVE``, so the user's own ``docker pull``s keep
working, or when the crawl has spent ``DOCKERHUB_PULL_BUDGET``.

A stopped GET fails with :class:`PullQuotaReached`; the spider records it
as pending so that the next crawl fetches it first.  With the spider
argument ``wait_for_quota=true`` it waits instead: free HEAD requests probe
the quota until it is back above the reserve.
"""

from __future__ import annotations

import logging

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.settings import BaseSettings
from scrapy.statscollectors import StatsCollector
from scrapy.utils.asyncio import sleep

from dockerhub import meta as meta_keys
from dockerhub.config import get_optional_int, get_str
from dockerhub.exceptions import PullQuotaReached, SettingError
from dockerhub.quota import Quota, parse_quota_header, parse_reserve

logger = logging.getLogger(__name__)

NUMBER_META = "dockerhub_quota_number"
MARK_META = "dockerhub_quota_mark"
#: Bounds of the wait between two quota probes while waiting for the window.
MIN_PROBE_SECONDS = 1.0
MAX_PROBE_SECONDS = 300.0


class PullQuotaMiddleware:
    def __init__(
        self,
        crawler: Crawler,
        reserve: tuple[int | None, float | None],
        budget: int | None,
    ) -> None:
        self.crawler = crawler
        self.reserve = reserve
        self.budget = budget
        self.quotas: dict[str | None, Quota] = {}
        self.sent = 0
        self.numbered = 0
        self.stopped = False
        self._probing: set[str | None] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PullQuotaMiddleware:
        return cls(crawler, *check_pull_settings(crawler.settings))

    @property
    def stats(self) -> StatsCollector:
        assert self.crawler.stats is not None
        return self.crawler.stats

    @property
    def wait(self) -> bool:
        return bool(getattr(self.crawler.spider, "wait_for_quota", False))

    def quota_for(self, request: Request) -> Quota:
        return self.quotas.setdefault(request.meta.get("proxy"), Quota())

    async def process_request(self, request: Request) -> None:
        pull = bool(request.meta.get(meta_keys.PULL)) and request.method == "GET"
        if pull:
            await self.admit(request)
        self.numbered += 1
        request.meta[NUMBER_META] = self.numbered
        request.meta[MARK_META] = self.quota_for(request).sending(
            self.numbered, pull=pull
        )
        if pull:
            self.sent += 1
            self.stats.inc_value("dockerhub/registry/pulls_sent")

    async def admit(self, request: Request) -> None:
        """Return when a manifest GET may go; raise when it may not."""
        if self.budget is not None and self.sent >= self.budget:
            self.stop(f"DOCKERHUB_PULL_BUDGET={self.budget} spent")
            raise PullQuotaReached("pull budget spent")
        quota = self.quota_for(request)
        while not quota.allows(*self.reserve):
            if not self.wait:
                self.stop(
                    f"pull quota down to {quota.left()} of {quota.limit} "
                    f"(reserve {quota.reserve(*self.reserve)})"
                )
                raise PullQuotaReached("pull quota at its reserve")
            await self.wait_for_quota(request, quota)

    def process_response(self, request: Request, response: Response) -> Response:
        number = request.meta.get(NUMBER_META)
        if number is None:
            return response
        quota = self.quota_for(request)
        limit = parse_quota_header(_header(response, b"ratelimit-limit"))
        remaining = parse_quota_header(_header(response, b"ratelimit-remaining"))
        quota.answered(
            number,
            mark=request.meta.get(MARK_META),
            limit=limit[0] if limit else None,
            remaining=remaining[0] if remaining else None,
            window=(limit or remaining or (0, None))[1],
            source=_header(response, b"docker-ratelimit-source"),
        )
        if response.status == 429 and request.meta.get(meta_keys.PULL):
            # Docker Hub's count disagrees with ours: it says none is left.
            quota.exhausted()
        if quota.remaining is not None:
            self.stats.set_value("dockerhub/registry/quota_remaining", quota.left())
            self.stats.set_value("dockerhub/registry/quota_limit", quota.limit)
        if quota.window is not None:
            self.stats.set_value("dockerhub/registry/quota_window", quota.window)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        number = request.meta.get(NUMBER_META)
        if number is not None:
            self.quota_for(request).failed(number)

    def stop(self, why: str) -> None:
        self.stats.inc_value("dockerhub/registry/pulls_deferred")
        if self.stopped:
            return
        self.stopped = True
        self.stats.set_value("dockerhub/registry/quota_stopped", 1)
        logger.warning(
            "No more manifest GETs in this crawl: %(why)s. What is left is "
            "recorded and fetched first by the next crawl (or run with "
            "-a wait_for_quota=true to wait for the quota window)",
            {"why": why},
        )

    async def wait_for_quota(self, request: Request, quota: Quota) -> None:
        """Sleep a while (without blocking the reactor), then probe the quota
        with a HEAD, which Docker Hub does not count."""
        window = quota.window or 3600
        pause = min(MAX_PROBE_SECONDS, max(MIN_PROBE_SECONDS, window / 20))
        key = request.meta.get("proxy")
        if key in self._probing:
            # Another request is probing this quota; check again after it.
            await sleep(pause)
            return
        self._probing.add(key)
        try:
            logger.info(
                "Pull quota at its reserve (%(left)s left); checking again in "
                "%(pause).0f s",
                {"left": quota.left(), "pause": pause},
            )
            self.stats.inc_value("dockerhub/registry/quota_wait_seconds", int(pause))
            await sleep(pause)
            probe = request.replace(method="HEAD", dont_filter=True, priority=100)
            probe.meta[meta_keys.PULL] = False
            assert self.crawler.engine is not None
            await self.crawler.engine.download_async(probe)
        finally:
            self._probing.discard(key)


def check_pull_settings(
    settings: BaseSettings,
) -> tuple[tuple[int | None, float | None], int | None]:
    """``DOCKERHUB_PULL_RESERVE`` and ``DOCKERHUB_PULL_BUDGET``, validated."""
    raw = get_str(settings, "DOCKERHUB_PULL_RESERVE") or "0"
    try:
        reserve = parse_reserve(raw)
    except ValueError as exc:
        raise SettingError(
            "DOCKERHUB_PULL_RESERVE",
            raw,
            "a number of pulls (e.g. 10) or a share of the quota (e.g. 10%)",
        ) from exc
    budget = get_optional_int(settings, "DOCKERHUB_PULL_BUDGET", minimum=0)
    return reserve, budget


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
