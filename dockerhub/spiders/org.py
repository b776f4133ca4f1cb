"""``scrapy crawl org -a org=bitnami``: every repository of one or more
namespaces, with all of their tags."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from scrapy import Request
from scrapy.http import Response

from dockerhub import endpoints
from dockerhub.clock import utc_now
from dockerhub.names import check_namespace, split_list
from dockerhub.parsing import hub
from dockerhub.spiders import arguments as args
from dockerhub.spiders.base import PRIORITY_LISTING, HubSpider


class OrgSpider(HubSpider):
    name = "org"
    own_arguments: ClassVar[tuple[str, ...]] = ("org",)

    def configure(self, arguments: Mapping[str, str]) -> None:
        super().configure(arguments)
        value = args.required(arguments, "org", "org=bitnami")
        self.namespaces = list(
            dict.fromkeys(check_namespace("org", part) for part in split_list(value))
        )

    def first_requests(self) -> Iterator[Request]:
        for namespace in self.namespaces:
            yield self.listing_request(
                endpoints.namespace_repositories(
                    self.hub_url, namespace, self.page_size
                ),
                namespace,
                page=1,
            )

    def listing_request(self, url: str, namespace: str, page: int) -> Request:
        return Request(
            url,
            callback=self.parse_listing,
            errback=self.request_failed,
            cb_kwargs={"namespace": namespace, "page": page},
            meta={"handle_httpstatus_list": [404]},
            priority=PRIORITY_LISTING,
            dont_filter=True,
        )

    def parse_listing(
        self, response: Response, namespace: str, page: int
    ) -> Iterator[Any]:
        if response.status == 404:
            # Docker Hub answers 404 only past the last page.
            self.logger.warning(
                "Listing of %(ns)s ended early with 404 at page %(page)d",
                {"ns": namespace, "page": page},
            )
            return
        try:
            listing = hub.page_from(self.hub_json(response))
        except hub.HubFormatError as exc:
            self.bad_answer(response, exc)
            return
        if page == 1:
            self.log_namespace_size(namespace, listing.count)
        self.stats.inc_value("dockerhub/listing/pages")
        scraped_at = utc_now()
        for entry in listing.results:
            try:
                item = hub.repository_item(
                    entry, scraped_at=scraped_at, source="listing"
                )
            except hub.HubFormatError as exc:
                self.logger.warning(
                    "Skipped a listing entry: %(error)s", {"error": exc}
                )
                self.stats.inc_value("dockerhub/repository/skipped")
                continue
            if self.details:
                yield self.repository_request(item.full_name)
            else:
                yield from self.repository_found(item)
        if listing.next_url:
            yield self.listing_request(listing.next_url, namespace, page + 1)

    def log_namespace_size(self, namespace: str, count: int | None) -> None:
        if not count:
            # Docker Hub answers an unknown namespace with an empty page.
            self.logger.warning(
                "Namespace %(ns)s has no public repositories (or does not exist)",
                {"ns": namespace},
            )
            self.stats.inc_value("dockerhub/namespace/empty")
            return
        self.logger.info(
            "Namespace %(ns)s has %(count)d repositories",
            {"ns": namespace, "count": count},
        )
        self.stats.inc_value("dockerhub/namespace/repositories_listed", count)
