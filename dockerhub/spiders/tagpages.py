"""Bookkeeping of the tag pages in flight for each repository.

A repository's tag list is complete when every page scheduled for it has
been processed and none failed or was cut off by ``max_tags``.  The table
lives in a plain dict so that Scrapy's SpiderState extension saves it with
a ``JOBDIR`` and a resumed crawl still knows which lists are whole.
"""

from __future__ import annotations

from typing import Any

_OPEN, _HIGHEST, _WHOLE = 0, 1, 2


class TagPages:
    def __init__(self, table: dict[str, list[Any]]) -> None:
        # repository name -> [pages scheduled but not processed, highest page
        # scheduled, whether the list can still turn out complete]
        self.table = table

    def add(self, repo_name: str, page: int) -> None:
        entry = self.table.setdefault(repo_name, [0, 0, True])
        entry[_OPEN] += 1
        entry[_HIGHEST] = max(entry[_HIGHEST], page)

    def highest(self, repo_name: str) -> int:
        entry = self.table.get(repo_name)
        return entry[_HIGHEST] if entry else 0

    def spoil(self, repo_name: str) -> None:
        """Some tags of this repository will not be read in this crawl."""
        entry = self.table.get(repo_name)
        if entry is not None:
            entry[_WHOLE] = False

    def done(self, repo_name: str) -> bool:
        """One page processed; True when it was the last of a complete list."""
        entry = self.table.get(repo_name)
        if entry is None:
            return False
        entry[_OPEN] -= 1
        if entry[_OPEN] > 0:
            return False
        del self.table[repo_name]
        return bool(entry[_WHOLE])
