"""The waiting arithmetic: rate-limit headers, pacing, pauses and backoff."""

from datetime import UTC, datetime

import pytest

from dockerhub import ratelimits

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("180", 180),
        (b"0", 0),
        (" 42 ", 42),
        ("", None),
        ("-1", None),
        ("1.5", None),
        ("many", None),
        ("\u00b2", None),  # a digit to str.isdigit, not to int()
    ],
)
def test_counts_are_non_negative_integers_or_nothing(value, expected):
    assert ratelimits.parse_count(value) == expected


def test_the_reset_header_is_a_unix_time_counted_from_the_clock():
    assert ratelimits.seconds_until_reset(str(int(NOW) + 42), NOW) == 42.0


def test_a_reset_in_the_past_means_now():
    assert ratelimits.seconds_until_reset(str(int(NOW) - 5), NOW) == 0.0


def test_a_small_reset_value_is_taken_as_seconds_left():
    assert ratelimits.seconds_until_reset(b"30", NOW) == 30.0


def test_a_missing_or_garbled_reset_is_unknown():
    assert ratelimits.seconds_until_reset(None, NOW) is None
    assert ratelimits.seconds_until_reset("soon", NOW) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (b"120", 120.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sun, 01 Mar 2026 11:59:00 GMT", 0.0),
        ("Sun, 01 Mar 2026 12:00:30 -0000", 30.0),
        ("later", None),
        ("-3", None),
        (None, None),
    ],
)
def test_retry_after_holds_seconds_or_an_http_date(value, expected):
    assert ratelimits.parse_retry_after(value, NOW) == expected


def test_our_clock_is_used_when_the_server_agrees_with_it():
    assert ratelimits.server_clock("Sun, 01 Mar 2026 12:00:01 GMT", NOW) == NOW
    assert ratelimits.server_clock(None, NOW) == NOW
    assert ratelimits.server_clock("not a date", NOW) == NOW


def test_the_server_clock_is_used_when_ours_is_minutes_off():
    clock = ratelimits.server_clock("Sun, 01 Mar 2026 12:05:00 GMT", NOW)
    assert clock == NOW + 300.5


def test_a_budget_needs_at_least_the_remaining_header():
    reset = str(int(NOW) + 60)
    assert ratelimits.read_budget("180", "179", reset, NOW) == ratelimits.Budget(
        180, 179, 60.0
    )
    assert ratelimits.read_budget(None, "3", None, NOW) == ratelimits.Budget(
        None, 3, None
    )
    assert ratelimits.read_budget("180", None, reset, NOW) is None
    assert ratelimits.read_budget("180", "lots", reset, NOW) is None


@pytest.mark.parametrize(
    ("remaining", "in_flight", "reserve", "reset_in", "delay"),
    [
        # 61 s to the reset, less the header's resolution, over 120 requests
        (120, 0, 0, 61.0, 0.5),
        # requests in flight and the reserve are not spendable
        (125, 4, 1, 61.0, 0.5),
        # past the (rounded) reset: spend what is left at once
        (10, 0, 0, 0.4, 0.0),
        (1, 0, 0, 11.0, 10.0),
    ],
)
def test_pacing_spreads_the_spendable_budget_over_the_window(
    remaining, in_flight, reserve, reset_in, delay
):
    assert ratelimits.pacing_delay(remaining, in_flight, reserve, reset_in) == (
        pytest.approx(delay)
    )


@pytest.mark.parametrize(
    ("remaining", "in_flight", "reserve"), [(0, 0, 0), (3, 3, 0), (4, 2, 2), (1, 5, 1)]
)
def test_nothing_spendable_means_a_pause(remaining, in_flight, reserve):
    assert ratelimits.pacing_delay(remaining, in_flight, reserve, 30.0) is None


@pytest.mark.parametrize(
    ("retry_after", "reset_in", "seconds"),
    [
        (12.0, 50.0, 12.0),  # Retry-After wins
        (0.0, 50.0, 0.0),
        (None, 50.0, 50.0),  # else the reset
        (None, 0.0, 60.0),  # a reset already past says nothing
        (None, None, 60.0),  # the abuse limit's bare 429
    ],
)
def test_a_429_pauses_by_retry_after_then_the_reset_then_the_default(
    retry_after, reset_in, seconds
):
    assert ratelimits.pause_after_429(retry_after, reset_in, 60.0) == seconds


def test_backoff_doubles_from_the_base_up_to_the_maximum():
    ceilings = [ratelimits.backoff_delay(n, 1.0, 10.0, 0.999999) for n in range(1, 7)]
    assert ceilings == pytest.approx([1.0, 2.0, 4.0, 8.0, 10.0, 10.0], rel=1e-5)


def test_backoff_lies_in_the_upper_half_below_its_ceiling():
    assert ratelimits.backoff_delay(3, 0.5, 60.0, 0.0) == 1.0
    assert ratelimits.backoff_delay(3, 0.5, 60.0, 0.5) == 1.5


def test_backoff_of_a_huge_attempt_number_is_the_maximum():
    assert ratelimits.backoff_delay(10_000, 1.0, 30.0, 0.0) == 15.0


@pytest.mark.parametrize(
    ("old", "new", "notable"),
    [
        (0.5, 0.5, False),
        (0.5, 0.52, False),
        (0.5, 0.6, True),
        (0.5, 0.0, True),
        (0.0, 0.01, True),
    ],
)
def test_only_notable_pacing_changes_are_logged(old, new, notable):
    assert ratelimits.is_notable_change(old, new) is notable


@pytest.mark.parametrize(
    ("proxy", "shown"),
    [
        (None, "direct"),
        ("http://10.0.0.1:3128", "10.0.0.1:3128"),
        ("http://user:secret@proxy.example:8080", "proxy.example:8080"),
        ("proxy.example:8080", "proxy.example:8080"),
        ("https://proxy.example", "proxy.example"),
    ],
)
def test_proxies_are_named_without_their_credentials(proxy, shown):
    assert ratelimits.proxy_address(proxy) == shown
