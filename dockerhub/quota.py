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

    Answers arrive out of order, and a HEAD may reach the registry before a
    GET sent just ahead of it, so one answer's count is not the count.
    Outside a refill the count only falls: keep the lowest seen, and take a
    higher one only from a request sent while no manifest GET was on its
    way and none left until it was answered (the wait's probes are such
    requests).  GETs not yet answered are taken off the count, which is
    cautious: one may already be in it.
    """

    limit: int | None = None
    remaining: int | None = None
    window: int | None = None
    source: str | None = None
    #: Numbers of manifest GETs sent and not answered yet.
    unanswered: set[int] = field(default_factory=set)
    #: Manifest GETs sent so far.
    pulls: int = 0

    def sending(self, number: int, *, pull: bool) -> int | None:
        """Note a request leaving.  Returns a mark for :meth:`answered`: the
        GET count when no GET is on its way, else None."""
        mark = None if self.unanswered else self.pulls
        if pull:
            self.unanswered.add(number)
            self.pulls += 1
        return mark

    def answered(
        self,
        number: int,
        *,
        mark: int | None,
        limit: int | None,
        remaining: int | None,
        window: int | None,
        source: str | None,
    ) -> None:
        """Take in the quota headers of the answer to request ``number``."""
        self.unanswered.discard(number)
        # Quiet from sending to answer: no GET could slip past this one.
        quiet = mark is not None and mark == self.pulls
        if limit is not None:
            self.limit = limit
        if remaining is not None:
            if self.remaining is None or quiet:
                self.remaining = remaining
            else:
                self.remaining = min(self.remaining, remaining)
        if window is not None:
            self.window = window
        if source:
            self.source = source

    def failed(self, number: int) -> None:
        """Request ``number`` got no answer; it may or may not have counted."""
        self.unanswered.discard(number)

    def exhausted(self) -> None:
        """A manifest GET was refused with 429: nothing is left."""
        self.remaining = 0

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
        return self.remaining - len(self.unanswered)

    def allows(self, count: int | None, fraction: float | None) -> bool:
        left = self.left()
        return left is None or left > self.reserve(count, fraction)
