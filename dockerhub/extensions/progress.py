"""Log how far a long crawl has come and how long the rest should take.

Every ``DOCKERHUB_PROGRESS_INTERVAL`` seconds one INFO line gives the
repositories and tags done, the requests still waiting, the registry pull
quota left and an estimate of the time left; one more line sums the crawl
up when it closes.  The wording and the arithmetic live in
:mod:`dockerhub.progress`; this extension only gathers the numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sized
from typing import Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector
from scrapy.utils.asyncio import AsyncioLoopingCall, create_looping_call
from twisted.internet.task import LoopingCall

from dockerhub.config import get_float
from dockerhub.progress import Progress, progress_message, summary_message

logger = logging.getLogger(__name__)

# Docker Hub stops paging a search near this many results, whatever count
# it announces, so a search crawl never reaches more repositories.
SEARCH_PAGING_LIMIT = 10_000


class ProgressLog:
    """Periodic progress lines and a closing summary; 0 seconds turns it off."""

    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self.started = time.monotonic()
        self.task: AsyncioLoopingCall | LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        interval = get_float(crawler.settings, "DOCKERHUB_PROGRESS_INTERVAL")
        if not interval:
            raise NotConfigured("DOCKERHUB_PROGRESS_INTERVAL is 0: no progress log")
        extension = cls(crawler, interval)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    @property
    def stats(self) -> StatsCollector:
        assert self.crawler.stats is not None
        return self.crawler.stats

    def spider_opened(self) -> None:
        self.started = time.monotonic()
        self.task = create_looping_call(self.log_progress)
        # now=False: at the start there is nothing to report yet.
        self.task.start(self.interval, now=False)

    def spider_closed(self, reason: str) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        logger.info(*summary_message(self.snapshot(), reason))

    def log_progress(self) -> None:
        logger.info(*progress_message(self.snapshot()))
        self.stats.inc_value("dockerhub/progress/lines")

    def snapshot(self) -> Progress:
        quota = self.stats.get_value("dockerhub/registry/quota_remaining")
        return Progress(
            elapsed=time.monotonic() - self.started,
            repositories=int(self.stats.get_value("dockerhub/repository/scraped", 0)),
            tags=int(self.stats.get_value("dockerhub/tags/scraped", 0)),
            waiting=self.requests_waiting(),
            quota_remaining=None if quota is None else int(quota),
            repositories_expected=self.repositories_expected(),
        )

    def requests_waiting(self) -> int:
        engine = self.crawler.engine
        if engine is None:
            return 0
        in_flight = len(engine.downloader.active)
        scheduler = engine.scheduler
        if isinstance(scheduler, Sized):
            return len(scheduler) + in_flight
        # A scheduler without a length: count what went in and came out.
        enqueued = int(self.stats.get_value("scheduler/enqueued", 0))
        dequeued = int(self.stats.get_value("scheduler/dequeued", 0))
        return max(0, enqueued - dequeued) + in_flight

    def repositories_expected(self) -> int | None:
        """How many repositories the crawl will reach, when that is known.

        A crawl resumed from a JOBDIR lists the whole namespace again but
        counts only the repositories it begins itself, so its share never
        reaches 100% and its time left is too long.
        """
        listed = self.stats.get_value("dockerhub/namespace/repositories_listed")
        if listed is not None:
            return int(listed)
        found = self.stats.get_value("dockerhub/search/results")
        if found is not None:
            return self.reachable_search_results(int(found))
        named = getattr(self.crawler.spider, "repositories", None)
        if isinstance(named, list):
            return len(named)
        return None

    def reachable_search_results(self, found: int) -> int:
        spider: Spider | None = self.crawler.spider
        reachable = min(found, SEARCH_PAGING_LIMIT)
        max_pages = getattr(spider, "max_pages", None)
        page_size = getattr(spider, "page_size", None)
        if isinstance(max_pages, int) and isinstance(page_size, int):
            reachable = min(reachable, max_pages * page_size)
        return reachable
