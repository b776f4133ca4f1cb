"""``scrapy crawl search -a query=prometheus``: repositories a Hub search
finds, with all of their tags."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from scrapy import Request
from scrapy.http import Response

from dockerhub import endpoints
from dockerhub.clock import utc_now
from dockerhub.exceptions import SpiderArgumentError
from dockerhub.parsing import hub
from dockerhub.spiders import arguments as args
from dockerhub.spiders.base import PRIORITY_LISTING, HubSpider

MAX_QUERY_LENGTH = 255


class SearchSpider(HubSpider):
    name = "search"
    own_arguments: ClassVar[tuple[str, ...]] = ("query", "max_pages")

    def configure(self, arguments: Mapping[str, str]) -> None:
        super().configure(arguments)
        query = args.required(arguments, "query", "query=prometheus").strip()
        if len(query) > MAX_QUERY_LENGTH or not query.isprintable():
            raise SpiderArgumentError(
                "query",
                query,
                f"expected printable text of at most {MAX_QUERY_LENGTH} characters",
            )
        self.query = query
        self.max_pages = args.positive_int(arguments, "max_pages")
        # Results shift while a search is paged, so one repository can come
        # back twice; a search is capped near 10,000 results, so this stays small.
        self.found: set[str] = set()

    def first_requests(self) -> Iterator[Request]:
        url = endpoints.search(self.hub_url, self.query, self.page_size)
        yield self.search_request(url, page=1)

    def search_request(self, url: str, page: int) -> Request:
        return Request(
            url,
            callback=self.parse_search,
            errback=self.request_failed,
            cb_kwargs={"page": page},
            # Docker Hub answers 403 (sometimes 404) past the last page.
            meta={"handle_httpstatus_list": [403, 404]},
            priority=PRIORITY_LISTING,
            dont_filter=True,
        )

    def parse_search(self, response: Response, page: int) -> Iterator[Any]:
        if response.status in (403, 404):
            self.logger.info(
                "Search for %(query)r ended at page %(page)d (HTTP %(status)d)",
                {"query": self.query, "page": page, "status": response.status},
            )
            return
        try:
            results = hub.page_from(self.hub_json(response))
        except hub.HubFormatError as exc:
            self.bad_answer(response, exc)
            return
        if page == 1:
            self.logger.info(
                "Search for %(query)r finds %(count)s repositories",
                {"query": self.query, "count": results.count},
            )
            self.stats.set_value("dockerhub/search/results", results.count)
        self.stats.inc_value("dockerhub/search/pages")
        scraped_at = utc_now()
        for result in results.results:
            full_name = hub.search_result_name(result)
            if full_name is None or full_name in self.found:
                continue
            self.found.add(full_name)
            if self.details:
                yield self.repository_request(full_name)
            else:
                item = hub.repository_item_from_search(result, scraped_at=scraped_at)
                yield from self.repository_found(item)
        if results.next_url and (self.max_pages is None or page < self.max_pages):
            yield self.search_request(results.next_url, page + 1)
