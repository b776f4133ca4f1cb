"""What a progress line says: counts so far and an estimate of what remains.

Plain functions over a :class:`Progress` snapshot, with no Scrapy in sight,
so the wording and the arithmetic are tested on their own.  Each message
comes back as a ``%``-style template and its arguments, ready for a lazy
``logger.info(template, arguments)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Message = tuple[str, dict[str, Any]]

PROGRESS_TEMPLATE = (
    "Progress: %(repositories)s repositories, %(tags)d tags, "
    "%(waiting)d requests waiting, registry quota %(quota)s, %(left)s"
)
SUMMARY_TEMPLATE = (
    "Crawl closed (%(reason)s) after %(elapsed)s: %(repositories)s repositories, "
    "%(tags)d tags (%(rate)s), registry quota %(quota)s"
)


@dataclass(frozen=True)
class Progress:
    """The state of a crawl at one moment."""

    #: Seconds since the crawl started.
    elapsed: float
    #: Repositories whose tags have been asked for.
    repositories: int
    #: Tags read so far.
    tags: int
    #: Requests in the scheduler's queue plus those being downloaded.
    waiting: int
    #: Registry pulls left before the quota runs out; None when unknown.
    quota_remaining: int | None = None
    #: How many repositories the crawl will reach; None when unknown.
    repositories_expected: int | None = None


def time_left(progress: Progress) -> float | None:
    """Seconds until every expected repository is reached, at the rate so far.

    None while there is nothing to extrapolate from: no expected total, or
    no repository done yet.  A repository counts once its tags are asked
    for, not once they are all read, so the estimate runs ahead by the
    repositories in flight: little on a namespace of thousands, a lot on
    one of twenty.
    """
    expected = progress.repositories_expected
    if expected is None or progress.repositories <= 0 or progress.elapsed <= 0:
        return None
    remaining = max(0, expected - progress.repositories)
    return remaining * progress.elapsed / progress.repositories


def format_duration(seconds: float) -> str:
    """``45s``, ``3m05s`` or ``2h07m``: precise enough for an estimate."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def progress_message(progress: Progress) -> Message:
    """The periodic INFO line."""
    return PROGRESS_TEMPLATE, {
        "repositories": _repositories(progress),
        "tags": progress.tags,
        "waiting": progress.waiting,
        "quota": _quota(progress),
        "left": _left(progress),
    }


def summary_message(progress: Progress, reason: str) -> Message:
    """The line logged once when the crawl closes."""
    if progress.elapsed > 0:
        rate = (
            f"{progress.repositories / progress.elapsed:.1f} repositories/s, "
            f"{progress.tags / progress.elapsed:.0f} tags/s"
        )
    else:
        rate = "no time elapsed"
    return SUMMARY_TEMPLATE, {
        "reason": reason,
        "elapsed": format_duration(progress.elapsed),
        "repositories": _repositories(progress),
        "tags": progress.tags,
        "rate": rate,
        "quota": _quota(progress),
    }


def _repositories(progress: Progress) -> str:
    expected = progress.repositories_expected
    if expected is None:
        return str(progress.repositories)
    # The listing can grow while it is paged, so done may pass the total.
    percent = (
        100 if expected <= 0 else min(100, 100 * progress.repositories // expected)
    )
    return f"{progress.repositories}/{expected} ({percent}%)"


def _quota(progress: Progress) -> str:
    if progress.quota_remaining is None:
        return "n/a"
    return str(progress.quota_remaining)


def _left(progress: Progress) -> str:
    seconds = time_left(progress)
    if seconds is None:
        return "time left unknown"
    if seconds == 0:
        # Every repository is under way; only its tag pages remain, and the
        # rate of repositories says nothing about how long those take.
        return "finishing the last tag pages"
    return f"about {format_duration(seconds)} left"
