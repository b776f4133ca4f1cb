"""Crawls that meet broken answers: retried with backoff, or given up alone."""

from itertools import pairwise

import pytest
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadFailedError,
    DownloadTimeoutError,
)
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler
from twisted.internet.error import ConnectionLost, TCPTimedOutError

from dockerhub import meta as meta_keys
from dockerhub.middlewares.retry import HubRetryMiddleware, exception_reason
from tests import worlds

# Short waits keep the tests fast; the backoff still doubles.
FAST = {"DOCKERHUB_RETRY_BACKOFF_BASE": 0.05, "DOCKERHUB_RETRY_BACKOFF_MAX": 1}

WEB_TAGS = 150  # two tag pages


def acme_world():
    web = worlds.repository(
        "acme",
        "web",
        [worlds.tag("acme/web", f"1.{n}") for n in range(WEB_TAGS)],
        pull_count=5000,
    )
    db = worlds.repository(
        "acme", "db", [worlds.tag("acme/db", "latest")], pull_count=42
    )
    cache = worlds.repository(
        "acme", "cache", [worlds.tag("acme/cache", "7"), worlds.tag("acme/cache", "6")]
    )
    return worlds.world(web, db, cache)


def assert_everything_arrived(result):
    assert result.returncode == 0, result.log
    assert result.rows("SELECT full_name, pull_count FROM repositories ORDER BY 1") == [
        ("acme/cache", 1000),
        ("acme/db", 42),
        ("acme/web", 5000),
    ]
    assert result.rows(
        "SELECT repo_name, count(*) FROM tags GROUP BY 1 ORDER BY 1"
    ) == [("acme/cache", 2), ("acme/db", 1), ("acme/web", WEB_TAGS)]
    assert result.rows(
        "SELECT digest FROM tags WHERE repo_name = 'acme/web' AND tag_name = '1.149'"
    ) == [(worlds.digest("acme/web", "1.149", "index"),)]
    stats = result.stats()
    assert stats["dockerhub/tags/scraped"] == WEB_TAGS + 3
    assert "dockerhub/retry/gave_up" not in stats
    assert "dockerhub/hub/request_failed" not in stats
    assert "dockerhub/hub/bad_answer" not in stats
    return stats


def crawl_with_faults(hub, crawl, faults, **settings):
    hub.control("PUT", "/_standin/world", acme_world())
    hub.control("PUT", "/_standin/faults", faults)
    return crawl("org", "org=acme", settings={**FAST, **settings})


@pytest.mark.parametrize(
    ("fault", "reason", "retries"),
    [
        ({"match": "/acme/repositories/db$", "times": 2}, "http_503", 2),
        (
            {"match": r"web/tags\?page=2", "status": 500, "times": 1},
            "http_500",
            1,
        ),
        (
            {"match": r"/acme/repositories\?", "status": 502, "times": 1},
            "http_502",
            1,
        ),
    ],
    ids=["503-twice-on-a-detail", "500-on-a-tag-page", "502-on-the-listing"],
)
def test_a_server_error_is_retried_and_every_row_arrives(
    hub, crawl, fault, reason, retries
):
    result = crawl_with_faults(hub, crawl, [{"action": "status", **fault}])
    stats = assert_everything_arrived(result)
    assert stats["dockerhub/retry/count"] == retries
    assert stats[f"dockerhub/retry/reason/{reason}"] == retries


def test_a_reset_connection_is_retried(hub, crawl):
    # Twisted itself resends a request once when a reused connection is
    # reset, so three resets make at least one reach the middleware.
    result = crawl_with_faults(
        hub, crawl, [{"match": "cache/tags", "action": "reset", "times": 3}]
    )
    stats = assert_everything_arrived(result)
    assert 1 <= stats["dockerhub/retry/reason/connection_lost"] <= 3


def test_an_answer_slower_than_the_download_timeout_is_retried(hub, crawl):
    result = crawl_with_faults(
        hub,
        crawl,
        [{"match": "/acme/repositories/web$", "action": "delay", "seconds": 1.5}],
        DOWNLOAD_TIMEOUT=0.5,
    )
    stats = assert_everything_arrived(result)
    assert stats["dockerhub/retry/reason/timeout"] == 1


def test_a_hub_answer_with_broken_json_is_retried(hub, crawl):
    result = crawl_with_faults(
        hub, crawl, [{"match": r"web/tags\?page_size", "action": "bad_json"}]
    )
    stats = assert_everything_arrived(result)
    assert stats["dockerhub/retry/reason/bad_json"] == 1


def test_retries_back_off_exponentially_while_other_requests_go_on(hub, crawl):
    result = crawl_with_faults(
        hub,
        crawl,
        [{"match": "/acme/repositories/db$", "action": "status", "times": 3}],
        DOCKERHUB_RETRY_BACKOFF_BASE=0.2,
    )
    assert_everything_arrived(result)
    log = hub.control("GET", "/_standin/stats")["log"]
    attempts = [line[0] for line in log if line[2].endswith("/repositories/db")]
    gaps = [later - earlier for earlier, later in pairwise(attempts)]
    # Each wait lies in the upper half below 0.2, 0.4 and 0.8 seconds.
    assert len(gaps) == 3
    for gap, ceiling in zip(gaps, (0.2, 0.4, 0.8), strict=True):
        assert ceiling / 2 - 0.02 <= gap <= ceiling + 0.5
    others = [line for line in log if attempts[0] < line[0] < attempts[-1]]
    assert len(others) >= 3, "the crawl stood still during the backoff"


def test_a_fault_that_outlasts_the_retries_is_logged_counted_and_the_rest_arrives(
    hub, crawl
):
    result = crawl_with_faults(
        hub,
        crawl,
        [{"match": "/acme/repositories/db$", "action": "status", "times": None}],
        RETRY_TIMES=2,
    )
    assert result.returncode == 0
    url = f"{hub.url}/v2/namespaces/acme/repositories/db"
    assert f"ERROR: Gave up on {url} after 3 tries: http_503" in result.log
    errors = [line for line in result.log.splitlines() if "] ERROR: " in line]
    assert len(errors) == 1, errors  # the spider's errback does not repeat it
    stats = result.stats()
    assert stats["dockerhub/retry/count"] == 2
    assert stats["dockerhub/retry/gave_up"] == 1
    assert stats["dockerhub/retry/gave_up/http_503"] == 1
    assert stats["dockerhub/hub/request_failed"] == 1
    assert result.rows("SELECT full_name FROM repositories ORDER BY 1") == [
        ("acme/cache",),
        ("acme/web",),
    ]
    assert result.rows("SELECT count(*) FROM tags") == [(WEB_TAGS + 2,)]


def test_broken_json_that_outlasts_the_retries_reaches_the_spider(hub, crawl):
    result = crawl_with_faults(
        hub,
        crawl,
        [{"match": "cache/tags", "action": "bad_json", "times": None}],
        RETRY_TIMES=1,
    )
    assert result.returncode == 0
    stats = result.stats()
    assert stats["dockerhub/retry/gave_up/bad_json"] == 1
    assert stats["dockerhub/hub/bad_answer"] == 1
    assert result.rows("SELECT count(*) FROM repositories") == [(3,)]
    assert result.rows(
        "SELECT repo_name, count(*) FROM tags GROUP BY 1 ORDER BY 1"
    ) == [("acme/db", 1), ("acme/web", WEB_TAGS)]


@pytest.mark.parametrize(
    ("url", "content_type", "body", "broken"),
    [
        ("http://hub.test/v2/x", b"application/json", b'{"count": 3, "next', True),
        ("http://hub.test/v2/x", b"application/json; charset=utf-8", b"{}", False),
        ("http://hub.test/v2/x", b"application/problem+json", b"{", True),
        ("https://hub.docker.com/v2/x", b"application/json", b"[1,", True),
        ("https://registry.hub.docker.com/v2/x", b"application/json", b"", True),
        # not the Hub API, or not JSON: someone else's concern
        ("http://registry.test/v2/x", b"application/json", b"{", False),
        ("http://hub.test/v2/x", b"text/html", b"<html", False),
    ],
)
def test_only_hub_api_json_answers_are_checked_for_broken_json(
    url, content_type, body, broken
):
    crawler = get_crawler(
        settings_dict={
            "DOCKERHUB_HUB_URL": "http://hub.test",
            "DOCKERHUB_RETRY_BACKOFF_BASE": 1.0,
            "DOCKERHUB_RETRY_BACKOFF_MAX": 60.0,
        }
    )
    middleware = HubRetryMiddleware.from_crawler(crawler)
    request = Request(url)
    response = TextResponse(
        url, headers={"Content-Type": content_type}, body=body, request=request
    )
    assert middleware.is_broken_hub_json(request, response) is broken
    # What parsed is handed on, so the spider does not parse it again.
    assert (meta_keys.PARSED_JSON in request.meta) is (body == b"{}")


@pytest.mark.parametrize(
    ("exception", "reason"),
    [
        (DownloadTimeoutError("took longer than 60 seconds"), "timeout"),
        (TCPTimedOutError(), "timeout"),
        (DownloadFailedError("Connection was closed uncleanly"), "connection_lost"),
        (ConnectionLost(), "connection_lost"),
        (ConnectionResetError(), "connection_lost"),
        (ConnectionRefusedError(), "connection_refused"),
        (CannotResolveHostError("hub.test"), "dns"),
        (OSError("empty body"), "OSError"),
    ],
)
def test_download_failures_are_counted_under_short_reasons(exception, reason):
    assert exception_reason(exception) == reason
