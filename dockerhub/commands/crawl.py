"""``scrapy crawl`` that checks spider arguments and settings before starting.

Scrapy reports an exception raised while a spider is built as a traceback
and exits 1.  Checking first turns bad input into one line on stderr that
names the argument or setting and the rule, with exit status 2 and no
traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from dockerhub.exceptions import DockerHubError
from dockerhub.settings_check import check_settings


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) == 1:
            self._check(args[0], opts.spargs)
        super().run(args, opts)

    def _check(self, spider_name: str, spider_args: dict[str, Any]) -> None:
        assert self.crawler_process is not None
        loader = self.crawler_process.spider_loader
        try:
            spider_class = loader.load(spider_name)
        except KeyError as exc:
            known = ", ".join(sorted(loader.list()))
            raise UsageError(
                f"unknown spider {spider_name!r}; this project has {known}",
                print_help=False,
            ) from exc
        try:
            assert self.settings is not None
            check_settings(self.settings)
            checker = getattr(spider_class, "check_arguments", None)
            if checker is not None:
                checker(spider_args)
        except DockerHubError as exc:
            sys.stderr.write(f"scrapy crawl {spider_name}: error: {exc}\n")
            sys.exit(2)
