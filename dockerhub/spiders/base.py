"""What the three spiders share: repository detail, then every tag page.

Each repository is crawled as a chain of callbacks: its detail answer (or
the listing entry) yields the repository item and the first tag page; the
first tag page tells how many there are and yields the requests for all the
others, which download in parallel.  Each page's tags are yielded as it
arrives: a repository's whole tag list is never in memory.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar, Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.python.failure import Failure
from w3lib.url import add_or_replace_parameter

from dockerhub import endpoints
from dockerhub import meta as meta_keys
from dockerhub import signals as dockerhub_signals
from dockerhub.clock import utc_now
from dockerhub.config import get_bool, get_int, get_url
from dockerhub.items import RepositoryItem
from dockerhub.parsing import hub
from dockerhub.spiders import arguments as args
from dockerhub.spiders.registry import RegistryCrawl
from dockerhub.spiders.tagpages import TagPages

# Tag pages go first, so repositories already begun are finished before new
# ones are opened; that bounds the number of repositories in flight.
PRIORITY_LISTING = 0
PRIORITY_DETAIL = 10
PRIORITY_TAGS = 20


class HubSpider(RegistryCrawl):
    """Base class; subclasses parse their own arguments and start requests."""

    #: Arguments every spider accepts, besides its own.
    common_arguments: ClassVar[tuple[str, ...]] = ("details", "max_tags")
    #: The spider's own arguments.
    own_arguments: ClassVar[tuple[str, ...]] = ()

    hub_url: str
    page_size: int

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.arguments = {k: str(v) for k, v in kwargs.items() if not k.startswith("_")}
        self.configure(self.arguments)

    @classmethod
    def check_arguments(cls, arguments: Mapping[str, str]) -> None:
        """Raise :class:`SpiderArgumentError` for any bad argument."""
        cls.__new__(cls).configure(arguments)

    def configure(self, arguments: Mapping[str, str]) -> None:
        args.reject_unknown(
            arguments,
            (*self.common_arguments, *self.registry_arguments, *self.own_arguments),
        )
        self.details = args.boolean(arguments, "details", default=True)
        self.max_tags = args.positive_int(arguments, "max_tags")
        self.configure_registry(arguments)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *a: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *a, **kwargs)
        spider.hub_url = get_url(crawler.settings, "DOCKERHUB_HUB_URL")
        spider.registry_url = get_url(crawler.settings, "DOCKERHUB_REGISTRY_URL")
        spider.layers_default = get_bool(crawler.settings, "DOCKERHUB_LAYERS")
        spider.page_size = get_int(
            crawler.settings, "DOCKERHUB_PAGE_SIZE", minimum=1, maximum=100
        )
        return spider

    async def start(self) -> AsyncIterator[Any]:
        # Manifests an earlier crawl had to leave go first.
        for request in self.backlog_requests():
            yield request
        for request in self.first_requests():
            yield request

    def first_requests(self) -> Iterator[Request]:
        """The spider's own first requests."""
        raise NotImplementedError

    # -- repositories -------------------------------------------------------

    def repository_request(self, full_name: str) -> Request:
        return Request(
            endpoints.repository(self.hub_url, full_name),
            callback=self.parse_repository,
            errback=self.request_failed,
            cb_kwargs={"full_name": full_name},
            meta={"handle_httpstatus_list": [404]},
            priority=PRIORITY_DETAIL,
        )

    def parse_repository(self, response: Response, full_name: str) -> Iterator[Any]:
        if response.status == 404:
            self.logger.warning(
                "Repository %(name)s does not exist on Docker Hub; skipped",
                {"name": full_name},
            )
            self.stats.inc_value("dockerhub/repository/not_found")
            return
        try:
            entry = hub.object_from(self.hub_json(response))
            item = hub.repository_item(entry, scraped_at=utc_now(), source="detail")
        except hub.HubFormatError as exc:
            self.bad_answer(response, exc)
            return
        yield from self.repository_found(item)

    def repository_found(self, item: RepositoryItem) -> Iterator[Any]:
        """Yield the repository and the first page of its tags."""
        self.stats.inc_value("dockerhub/repository/scraped")
        yield item
        yield self.tags_request(
            item.full_name,
            endpoints.repository_tags(self.hub_url, item.full_name, self.page_size),
            page=1,
        )

    # -- tags ---------------------------------------------------------------

    @property
    def tag_pages(self) -> TagPages:
        # SpiderState sets self.state when the spider opens (loaded from the
        # JOBDIR on a resumed crawl); keep the table inside it.
        state: dict[str, Any] | None = getattr(self, "state", None)
        if state is None:
            state = {}
            self.state = state
        table: dict[str, list[Any]] = state.setdefault("tag_pages", {})
        return TagPages(table)

    def tags_request(self, repo_name: str, url: str, page: int) -> Request:
        self.tag_pages.add(repo_name, page)
        # Tag page URLs never repeat; skipping the duplicate filter keeps its
        # fingerprint set from growing with the number of tags.
        return Request(
            url,
            callback=self.parse_tags,
            errback=self.tags_failed,
            cb_kwargs={"repo_name": repo_name, "page": page},
            meta={"handle_httpstatus_list": [404]},
            priority=PRIORITY_TAGS,
            dont_filter=True,
        )

    def parse_tags(
        self, response: Response, repo_name: str, page: int
    ) -> Iterator[Any]:
        """One page of tags; page 1 also schedules all the other pages.

        Page 1 tells the tag count, so pages 2..N are requested at once and
        downloaded in parallel instead of one ``next`` link at a time.
        """
        if response.status == 404:
            self.tags_missing(repo_name, page)
        else:
            yield from self.tags_of_page(response, repo_name, page)
        if self.tag_pages.done(repo_name):
            self.logger.debug("Read every tag of %(repo)s", {"repo": repo_name})
            self.crawler.signals.send_catch_log(
                dockerhub_signals.tag_list_complete, repo_name=repo_name
            )

    def tags_of_page(
        self, response: Response, repo_name: str, page: int
    ) -> Iterator[Any]:
        try:
            listing = hub.page_from(self.hub_json(response))
        except hub.HubFormatError as exc:
            self.bad_answer(response, exc)
            self.tag_pages.spoil(repo_name)
            return
        entries = listing.results
        if self.max_tags is not None:
            entries = entries[: max(0, self.max_tags - (page - 1) * self.page_size)]
        scraped_at = utc_now()
        registry = self.registry_enabled
        for entry in entries:
            try:
                tag = hub.tag_item(repo_name, entry, scraped_at=scraped_at)
            except hub.HubFormatError as exc:
                self.logger.warning("Skipped a tag: %(error)s", {"error": exc})
                self.stats.inc_value("dockerhub/tags/skipped")
                continue
            yield tag
            if registry:
                yield from self.registry_requests(tag)
        self.stats.inc_value("dockerhub/tags/scraped", len(entries))
        self.stats.inc_value("dockerhub/tags/pages")
        if listing.next_url:
            yield from self.next_tag_pages(repo_name, page, listing)

    def next_tag_pages(
        self, repo_name: str, page: int, listing: hub.Page
    ) -> Iterator[Request]:
        assert listing.next_url is not None
        if page < self.tag_pages.highest(repo_name):
            return  # a middle page: the pages after it are scheduled already
        last = page + 1
        if page == 1 and listing.count is not None:
            last = max(last, math.ceil(listing.count / self.page_size))
        if self.max_tags is not None:
            allowed = math.ceil(self.max_tags / self.page_size)
            if last > allowed:
                self.stats.inc_value("dockerhub/tags/capped")
                self.tag_pages.spoil(repo_name)
                last = allowed
        for number in range(page + 1, last + 1):
            url = add_or_replace_parameter(listing.next_url, "page", str(number))
            yield self.tags_request(repo_name, url, number)

    def tags_missing(self, repo_name: str, page: int) -> None:
        if page > 1:
            # Tags were deleted while we paged: the list simply ends sooner.
            return
        self.logger.warning(
            "Tag list of %(repo)s answered 404: the repository was deleted",
            {"repo": repo_name},
        )
        self.stats.inc_value("dockerhub/tags/not_found")
        self.tag_pages.spoil(repo_name)

    def tags_failed(self, failure: Failure) -> None:
        self.request_failed(failure)
        request = getattr(failure, "request", None)
        if request is not None:
            repo_name = request.cb_kwargs["repo_name"]
            self.tag_pages.spoil(repo_name)
            self.tag_pages.done(repo_name)

    # -- answers and failures -----------------------------------------------

    def hub_json(self, response: Response) -> Any:
        """The answer's JSON, parsed once: the retry middleware, which checks
        that Hub answers parse, leaves what it parsed in ``meta``."""
        parsed = response.meta.pop(meta_keys.PARSED_JSON, None)
        if parsed is not None:
            return parsed[0]
        return hub.load_json(response.body)

    def bad_answer(self, response: Response, error: Exception) -> None:
        self.logger.error(
            "Unusable answer from %(url)s (HTTP %(status)d): %(error)s",
            {"url": response.url, "status": response.status, "error": error},
        )
        self.stats.inc_value("dockerhub/hub/bad_answer")

    def request_failed(self, failure: Failure) -> None:
        self.log_failure(failure)
        self.stats.inc_value("dockerhub/hub/request_failed")
