"""``scrapy crawl repo -a repos=nginx,bitnami/redis``: named repositories."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar

from scrapy import Request

from dockerhub.exceptions import SpiderArgumentError
from dockerhub.names import check_repository, split_list
from dockerhub.spiders import arguments as args
from dockerhub.spiders.base import HubSpider


class RepoSpider(HubSpider):
    name = "repo"
    own_arguments: ClassVar[tuple[str, ...]] = ("repos", "repos_file")

    def configure(self, arguments: Mapping[str, str]) -> None:
        super().configure(arguments)
        names: list[str] = []
        if arguments.get("repos"):
            names += [
                check_repository("repos", part)
                for part in split_list(arguments["repos"])
            ]
        if arguments.get("repos_file"):
            for number, line in args.lines_of_file(
                "repos_file", arguments["repos_file"]
            ):
                try:
                    names.append(check_repository("repos_file", line))
                except SpiderArgumentError as exc:
                    raise SpiderArgumentError(
                        "repos_file", arguments["repos_file"], f"line {number}: {exc}"
                    ) from exc
        if not names:
            if arguments.get("repos_file"):
                raise SpiderArgumentError(
                    "repos_file", arguments["repos_file"], "names no repository"
                )
            raise SpiderArgumentError(
                "repos",
                arguments.get("repos"),
                "required (or repos_file), for example -a repos=nginx,bitnami/redis",
            )
        # A repository named twice is crawled once.
        self.repositories = list(dict.fromkeys(names))

    def first_requests(self) -> Iterator[Request]:
        # The detail request is made even with details=false: without a
        # listing there is no other way to learn the repository's fields.
        for full_name in self.repositories:
            yield self.repository_request(full_name)
