"""Docker Hub's pull quota: header parsing and the arithmetic of spending it.

Plain code with no Scrapy.  Only manifest GETs count against the quota;
``ratelimit-limit: 100;w=21600`` and ``ratelimit-remaining: 76;w=21600``
arrive on registry answers (HEADs included, which cost nothing), and paid
accounts get no such headers at all.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_VALUE = re.compile(r"^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?")


def parse_quota_header(value: str | None) -> tuple[int, int | None] | None:
    """``"76;w=21600"`` -> ``(76, 21600)``; None when absent or unreadable."""
    if not value:
        return None
    match = _VALUE.match(value)
    if match is None:
        return None
    window = int(match.group(2)) if match.group(2) else None
    return int(match.group(1)), window


def parse_reserve(value: str) -> tuple[int | None, float | None]:
    """A reserve is a count of pulls (``"10"``) or a share of the quota
    (``"10%"``); returns ``(count, None)`` or ``(None, fraction)``."""
    text = value.strip()
    if text.endswith("%"):
        share = float(text[:-1])
        if not 0 <= share < 100:
            raise ValueError(text)
        return None, share / 100
    count = int(text)
    if count < 0:
        raise ValueError(text)
    return count, None


@dataclass(slots=True)
class Quota:
    """What one source of pulls (an IP address, or an account) has left.

    Requests are numbered as they are sent.  The count held is the one from
    the answer to the latest-sent request so far: answers arrive out of
    order, and an answer to an older request tells an older state.  Manifest
    GETs sent after that request are not in the count yet and are taken off
    it.
    """

    limit: int | None = None
    remaining: int | None = None
    window: int | None = None
    source: str | None = None
    #: Number of the request whose answer gave ``remaining``.
    seen: int = -1
    #: Numbers of manifest GETs sent after it.
    pulls: list[int] = field(default_factory=list)

    def sent_pull(self, number: int) -> None:
        self.pulls.append(number)

    def update(
        self,
        number: int,
        limit: int | None,
        remaining: int | None,
        window: int | None,
        source: str | None,
    ) -> None:
        """Take in the quota headers of the answer to request ``number``."""
        if number < self.seen:
            return
        if limit is not None:
            self.limit = limit
        if remaining is not None:
            self.remaining = remaining
            self.seen = number
            self.pulls = [pull for pull in self.pulls if pull > number]
        if window is not None:
            self.window = window
        if source:
            self.source = source

    def exhausted(self, number: int) -> None:
        """Request ``number`` was refused with 429: nothing is left."""
        self.remaining = 0
        self.seen = max(self.seen, number)
        self.pulls = [pull for pull in self.pulls if pull > number]

    def reserve(self, count: int | None, fraction: float | None) -> int:
        if count is not None:
            return count
        if self.limit is None or fraction is None:
            return 0
        return math.ceil(self.limit * fraction)

    def left(self) -> int | None:
        """Pulls left after those in flight; None while the quota is unknown."""
        if self.remaining is None:
            return None
        return self.remaining - len(self.pulls)

    def allows(self, count: int | None, fraction: float | None) -> bool:
        left = self.left()
        return left is None or left > self.reserve(count, fraction)
