import pytest

from dockerhub.quota import Quota, parse_quota_header, parse_reserve


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100;w=21600", (100, 21600)),
        ("76;w=3600", (76, 3600)),
        ("5", (5, None)),
        (" 7 ; w = 60", (7, 60)),
        ("", None),
        (None, None),
        ("lots", None),
    ],
)
def test_quota_headers_are_parsed(value, expected):
    assert parse_quota_header(value) == expected


def test_a_reserve_is_a_count_or_a_share():
    assert parse_reserve("10") == (10, None)
    assert parse_reserve("10%") == (None, 0.1)
    for bad in ("-1", "100%", "ten"):
        with pytest.raises(ValueError):
            parse_reserve(bad)


def test_pulls_in_flight_are_taken_off_the_last_count():
    quota = Quota()
    quota.update(1, limit=20, remaining=10, window=60, source=None)
    quota.sent_pull(2)
    quota.sent_pull(3)
    assert quota.left() == 8
    quota.update(2, limit=None, remaining=9, window=None, source=None)
    assert quota.left() == 8  # GET 3 is still on its way
    quota.update(3, limit=None, remaining=8, window=None, source=None)
    assert quota.left() == 8


def test_an_answer_to_an_older_request_does_not_overwrite_a_newer_count():
    quota = Quota()
    quota.sent_pull(1)
    quota.sent_pull(2)
    quota.update(2, limit=10, remaining=3, window=60, source=None)
    quota.update(1, limit=10, remaining=4, window=60, source=None)
    assert quota.left() == 3


def test_the_reserve_of_ten_percent_keeps_pulls_back():
    quota = Quota()
    quota.update(1, limit=20, remaining=3, window=60, source=None)
    assert quota.allows(None, 0.1)
    quota.sent_pull(2)
    assert not quota.allows(None, 0.1)


def test_an_unknown_quota_allows_pulls():
    assert Quota().allows(None, 0.1)
