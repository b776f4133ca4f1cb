"""How long to wait before the next Hub API request: the arithmetic alone.

Docker Hub counts each client's requests in fixed windows and reports the
budget on every answer: ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (the unix time at which the window starts afresh).
Beyond the limit it answers 429, with ``Retry-After`` or, for its abuse
limit, with no header at all.  This module reads those headers, turns them
into a delay between requests or a pause until the reset, and computes the
backoff of retries.  It imports no Scrapy, so it is tested on its own; the
middlewares in ``dockerhub.middlewares`` apply what it computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

# X-RateLimit-Reset is a whole unix second, rounded up: the window may really
# end up to this much sooner than the header says.
RESET_RESOLUTION = 1.0
# A Date header further than this from our clock means one of the clocks is
# wrong; the server's timestamps are then measured against its own clock.
CLOCK_SKEW_TOLERANCE = 2.0
# A reset value below this cannot be a unix time (it would be 2001 or
# earlier): some servers send the seconds left instead.
_EARLIEST_RESET_EPOCH = 1_000_000_000
# Pacing changes smaller than this fraction are not worth a log line.
NOTABLE_CHANGE = 0.1


@dataclass(frozen=True, slots=True)
class Budget:
    """One answer's account of the client's rate limit."""

    limit: int | None
    remaining: int
    #: Seconds from the answer until the window resets; None when not told.
    reset_in: float | None


#: A header value as Scrapy gives it (bytes) or as text.
HeaderValue = str | bytes | None


def _text(value: HeaderValue) -> str | None:
    if isinstance(value, bytes):
        # HTTP header values are ISO-8859-1 where they are not ASCII.
        return value.decode("latin-1")
    return value


def parse_count(value: HeaderValue) -> int | None:
    """A header holding a non-negative integer, or None when it holds none."""
    text = _text(value)
    if text is None:
        return None
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    return int(text)


def parse_http_date(value: HeaderValue) -> float | None:
    """An HTTP date (``Date``, ``Retry-After``) as a unix time, or None."""
    text = _text(value)
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        # HTTP dates are GMT; "-0000" comes back without a zone.
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def server_clock(date: HeaderValue, now: float) -> float:
    """The current time to measure the server's timestamps against.

    Our own clock, which is finer than the whole seconds of ``Date``, unless
    the answer's ``Date`` shows the two clocks apart by more than
    :data:`CLOCK_SKEW_TOLERANCE`; then the server's, from the middle of the
    second that ``Date`` names (it is rounded down).
    """
    server_now = parse_http_date(date)
    if server_now is None or abs(server_now - now) <= CLOCK_SKEW_TOLERANCE:
        return now
    return server_now + 0.5


def seconds_until_reset(reset: HeaderValue, clock: float) -> float | None:
    """``X-RateLimit-Reset`` as seconds from ``clock``, never negative."""
    value = parse_count(reset)
    if value is None:
        return None
    if value < _EARLIEST_RESET_EPOCH:
        return float(value)
    return max(0.0, value - clock)


def parse_retry_after(value: HeaderValue, clock: float) -> float | None:
    """``Retry-After`` as seconds from ``clock``: it holds seconds or a date."""
    seconds = parse_count(value)
    if seconds is not None:
        return float(seconds)
    moment = parse_http_date(value)
    if moment is None:
        return None
    return max(0.0, moment - clock)


def read_budget(
    limit: HeaderValue, remaining: HeaderValue, reset: HeaderValue, clock: float
) -> Budget | None:
    """The budget the three ``X-RateLimit-*`` headers tell, if they tell one."""
    left = parse_count(remaining)
    if left is None:
        return None
    return Budget(parse_count(limit), left, seconds_until_reset(reset, clock))


def pacing_delay(
    remaining: int, in_flight: int, reserve: int, reset_in: float
) -> float | None:
    """The delay between requests that spreads what is left of the budget.

    Requests already sent but not yet answered will each use one of the
    ``remaining`` requests, and ``reserve`` are never spent.  The rest is
    spread over the time to the reset less :data:`RESET_RESOLUTION`: the
    window may end that much sooner, and should it not, the budget merely
    runs out a little early and the pause until the reset follows, with no
    429.  None means nothing may be spent until the reset.
    """
    spendable = remaining - in_flight - reserve
    if spendable <= 0:
        return None
    return max(0.0, reset_in - RESET_RESOLUTION) / spendable


def in_flight_cap(remaining: int, reserve: int) -> int:
    """How many requests may be in flight at once without overdrawing.

    A delay between requests bounds their rate, not their number: once the
    delay is short (late in a window, or slow answers), a slot could send
    more requests than are left before any of them is answered.  With at
    most ``remaining - reserve`` in flight, even if the server counts none
    of them before the next answer, that answer brings a fresh count before
    the budget can be overdrawn.  Never below one, so the answer that shows
    a new window can come.
    """
    return max(1, remaining - reserve)


def pause_after_429(
    retry_after: float | None, reset_in: float | None, default: float
) -> float:
    """Seconds to hold requests after a 429 answer.

    ``Retry-After`` says it best; the reset of the window serves when it is
    missing.  Docker Hub's abuse limit answers a bare 429 that tells neither,
    and ``default`` covers it.
    """
    if retry_after is not None:
        return retry_after
    if reset_in is not None and reset_in > 0:
        return reset_in
    return default


def backoff_delay(attempt: int, base: float, maximum: float, spread: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first).

    The ceiling doubles from ``base`` with each attempt up to ``maximum``;
    ``spread`` (a random draw from [0, 1)) picks a point in the upper half
    below it, so requests that failed together do not all return at once.
    """
    # The exponent is capped so that a large attempt number cannot overflow.
    ceiling = min(maximum, base * 2.0 ** min(attempt - 1, 64))
    return ceiling * (1.0 + spread) / 2.0


def is_notable_change(old: float, new: float) -> bool:
    """Whether a delay moved enough (or to or from zero) to be logged."""
    if old == new:
        return False
    if old == 0.0 or new == 0.0:
        return True
    return abs(new - old) > NOTABLE_CHANGE * old


def proxy_address(proxy: str | None) -> str:
    """``host:port`` of a proxy URL for log lines, with no credentials."""
    if proxy is None:
        return "direct"
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    return host if port is None else f"{host}:{port}"
