"""Which manifests and configs need fetching: content addressing.

What a digest names never changes, so a digest already stored (by any
earlier crawl) or already requested in this crawl is never fetched again.
Each manifest GET costs scarce pull quota and inflates the very pull count
the crawler measures, so this is the crawler's main saving.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class KnownDigests:
    """Digests claimed in this crawl, plus an optional look-up in storage.

    The storage pipeline sets :attr:`lookup` when it opens, so the spiders
    need not know where items are stored.
    """

    def __init__(self) -> None:
        self.claimed: set[str] = set()
        self.lookup: Callable[[str], bool] | None = None
        #: Manifests an earlier crawl left unfetched: (digest, repository,
        #: platform).  Set by the storage pipeline, like :attr:`lookup`.
        self.backlog: Callable[[], list[tuple[str, str, dict[str, Any]]]] | None = None

    def claim(self, digest: str) -> bool:
        """True when the caller should fetch ``digest``: nobody has it yet."""
        if digest in self.claimed:
            return False
        self.claimed.add(digest)
        return not (self.lookup is not None and self.lookup(digest))

    def release(self, digest: str) -> None:
        """The fetch failed; let a later tag that shares the digest try again."""
        self.claimed.discard(digest)
