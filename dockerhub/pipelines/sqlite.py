"""Persist repositories and tags to SQLite in batched transactions."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.spiders import Spider
from scrapy.utils.job import job_dir

from dockerhub import signals as dockerhub_signals
from dockerhub.config import get_float, get_int, get_str
from dockerhub.items import (
    ImageConfigItem,
    ManifestItem,
    PendingFetchItem,
    RepositoryItem,
    TagItem,
    TagManifestItem,
)
from dockerhub.storage.sqlite import Batch, SQLiteStorage

logger = logging.getLogger(__name__)

# Kept in a JOBDIR so that a resumed crawl knows which crawl run it continues.
JOB_FILE = "dockerhub-crawl.json"


class SQLitePipeline:
    """Write items to the file named by ``DOCKERHUB_DB``.

    Items are buffered and written ``DOCKERHUB_DB_BATCH_SIZE`` at a time, or
    at least every ``DOCKERHUB_DB_FLUSH_SECONDS``, each batch in one
    transaction: a commit per item would make SQLite the bottleneck.
    """

    def __init__(
        self, crawler: Crawler, path: str, batch_size: int, flush_seconds: float
    ) -> None:
        self.crawler = crawler
        self.storage = SQLiteStorage(path)
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.batch = Batch()
        self.run_id: int | None = None
        self.jobdir: str | None = None
        self.first_run: int | None = None
        self.counts = {"repositories": 0, "tags": 0}
        self.complete_tag_lists: list[str] = []
        self._last_flush = time.monotonic()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SQLitePipeline:
        settings = crawler.settings
        path = get_str(settings, "DOCKERHUB_DB")
        if not path:
            raise NotConfigured("DOCKERHUB_DB is empty: not writing to SQLite")
        pipeline = cls(
            crawler,
            path,
            batch_size=get_int(settings, "DOCKERHUB_DB_BATCH_SIZE", minimum=1),
            flush_seconds=get_float(settings, "DOCKERHUB_DB_FLUSH_SECONDS"),
        )
        pipeline.jobdir = job_dir(settings)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(
            pipeline.tag_list_complete, signal=dockerhub_signals.tag_list_complete
        )
        return pipeline

    @property
    def spider(self) -> Spider:
        assert self.crawler.spider is not None
        return self.crawler.spider

    def open_spider(self) -> None:
        self.storage.open()
        arguments = getattr(self.spider, "arguments", {})
        self.run_id = self.storage.start_run(self.spider.name, arguments)
        if self.jobdir is not None:
            self.first_run = first_run_of_job(
                Path(self.jobdir, JOB_FILE), self.storage.path, self.run_id
            )
            if self.first_run != self.run_id:
                assert self.crawler.stats is not None
                self.crawler.stats.set_value("dockerhub/db/resumed_run", self.first_run)
        known = getattr(self.spider, "known_digests", None)
        if known is not None:
            # Content addressing across crawls: what is stored is not fetched.
            known.lookup = self.storage.has_digest
            known.backlog = self.storage.pending_fetches
        logger.info(
            "Writing to %(path)s as crawl run %(run)d",
            {"path": self.storage.path, "run": self.run_id},
        )

    def process_item(self, item: Any) -> Any:
        if isinstance(item, RepositoryItem):
            self.batch.repositories.append(item)
        elif isinstance(item, TagItem):
            self.batch.tags.append(item)
        elif isinstance(item, ManifestItem):
            self.batch.manifests.append(item)
        elif isinstance(item, ImageConfigItem):
            self.batch.configs.append(item)
        elif isinstance(item, TagManifestItem):
            self.batch.tag_manifests.append(item)
        elif isinstance(item, PendingFetchItem):
            self.batch.pending.append(item)
        else:
            return item
        if (
            len(self.batch) >= self.batch_size
            or time.monotonic() - self._last_flush >= self.flush_seconds
        ):
            self.flush()
        return item

    def tag_list_complete(self, repo_name: str) -> None:
        # Held until the last batch: the signal can overtake the last tags of
        # the list on their way to this pipeline, and a crawl killed in
        # between must not record a list whose tags it did not store.  Only
        # the removal pass at close reads these records anyway.
        self.complete_tag_lists.append(repo_name)

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not len(self.batch):
            return
        assert self.run_id is not None
        batch, self.batch = self.batch, Batch()
        self.storage.write(batch, self.run_id)
        self.counts["repositories"] += len(batch.repositories)
        self.counts["tags"] += len(batch.tags)
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value("dockerhub/db/batches")
        stats.inc_value("dockerhub/db/repositories", len(batch.repositories))
        stats.inc_value("dockerhub/db/tags", len(batch.tags))

    def close_spider(self) -> None:
        self.batch.complete_tag_lists += self.complete_tag_lists
        self.complete_tag_lists = []
        self.flush()
        assert self.run_id is not None
        removed = self.storage.mark_removed_tags(self.run_id, first_run=self.first_run)
        assert self.crawler.stats is not None
        self.crawler.stats.set_value("dockerhub/db/tags_marked_removed", removed)
        if removed:
            logger.info(
                "Marked %(count)d tags removed: gone from Docker Hub since the "
                "last complete crawl of their repository",
                {"count": removed},
            )

    def spider_closed(self, spider: Spider, reason: str) -> None:
        # Runs after CoreStats has recorded finish_reason and elapsed time.
        if self.run_id is None:
            return
        assert self.crawler.stats is not None
        self.storage.finish_run(
            self.run_id, reason, self.crawler.stats.get_stats(), self.counts
        )
        self.storage.close()


def first_run_of_job(job_file: Path, database: Path, run_id: int) -> int:
    """The crawl run that began the job of ``job_file``'s JOBDIR.

    Scrapy resumes a paused crawl from its JOBDIR, while the database sees a
    new crawl run; the first run of the job is what the removal of vanished
    tags must compare with.  Returns ``run_id`` for a new job, or when the
    JOBDIR was last used with another database.
    """
    where = str(database.resolve())
    try:
        recorded = json.loads(job_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        recorded = None
    except (OSError, ValueError) as exc:
        logger.warning(
            "Cannot read %(file)s (%(error)s); starting a new job",
            {"file": job_file, "error": exc},
        )
        recorded = None
    if (
        isinstance(recorded, dict)
        and recorded.get("database") == where
        and isinstance(recorded.get("first_run"), int)
    ):
        first_run: int = recorded["first_run"]
        logger.info(
            "Resuming the crawl that began as crawl run %(run)d", {"run": first_run}
        )
        return first_run
    job_file.write_text(
        json.dumps({"database": where, "first_run": run_id}), encoding="utf-8"
    )
    return run_id
