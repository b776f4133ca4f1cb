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


def answer(quota, number, mark, remaining):
    quota.answered(
        number, mark=mark, limit=100, remaining=remaining, window=60, source=None
    )


def test_pulls_not_yet_answered_are_taken_off_the_count():
    quota = Quota()
    answer(quota, 1, quota.sending(1, pull=False), 10)
    two = quota.sending(2, pull=True)
    three = quota.sending(3, pull=True)
    assert quota.left() == 8
    answer(quota, 2, two, 9)
    assert quota.left() == 8  # GET 3 is still on its way
    answer(quota, 3, three, 8)
    assert quota.left() == 8


def test_an_answer_that_overtook_a_get_cannot_raise_the_count():
    quota = Quota()
    get = quota.sending(1, pull=True)
    head = quota.sending(2, pull=False)
    # The HEAD reached the registry first and says 94; the GET then says 93.
    answer(quota, 2, head, 94)
    answer(quota, 1, get, 93)
    assert quota.left() == 93


def test_a_quiet_request_answered_after_a_get_left_cannot_raise_the_count():
    quota = Quota()
    answer(quota, 1, quota.sending(1, pull=False), 5)
    head = quota.sending(2, pull=False)  # quiet when sent
    get = quota.sending(3, pull=True)
    answer(quota, 3, get, 4)
    answer(quota, 2, head, 5)  # stale: the GET left while it was out
    assert quota.left() == 4


def test_a_refill_is_seen_by_a_request_that_stayed_quiet():
    quota = Quota()
    answer(quota, 1, quota.sending(1, pull=True), 1)
    answer(quota, 2, quota.sending(2, pull=False), 100)
    assert quota.left() == 100


def test_the_reserve_of_ten_percent_keeps_pulls_back():
    quota = Quota()
    quota.answered(1, mark=0, limit=20, remaining=3, window=60, source=None)
    assert quota.allows(None, 0.1)
    quota.sending(2, pull=True)
    assert not quota.allows(None, 0.1)


def test_an_unknown_quota_allows_pulls():
    assert Quota().allows(None, 0.1)
