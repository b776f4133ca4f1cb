"""Crawls under the Hub's rate limit: paced to fit it, paused by its 429s."""

from itertools import pairwise

import pytest
from scrapy.settings import Settings

from dockerhub.exceptions import SettingError
from dockerhub.settings_check import check_settings
from tests import worlds

REPOSITORIES = 30
TAGS = 3


def org_world(repositories=REPOSITORIES, tags=TAGS):
    return worlds.world(
        *(
            worlds.repository(
                "acme",
                f"r{n:02}",
                [worlds.tag(f"acme/r{n:02}", f"v{k}") for k in range(tags)],
                pull_count=100 + n,
            )
            for n in range(repositories)
        )
    )


def assert_complete(result, repositories=REPOSITORIES, tags=TAGS):
    assert result.returncode == 0, result.log
    assert result.rows("SELECT count(*), sum(pull_count) FROM repositories") == [
        (repositories, sum(100 + n for n in range(repositories)))
    ]
    assert result.rows("SELECT count(DISTINCT repo_name), count(*) FROM tags") == [
        (repositories, repositories * tags)
    ]
    assert result.rows(
        "SELECT digest FROM tags WHERE repo_name = 'acme/r01' AND tag_name = 'v0'"
    ) == [(worlds.digest("acme/r01", "v0", "index"),)]


def answers(hub):
    stats = hub.control("GET", "/_standin/stats")
    return stats["requests"], stats["status"].get("429", 0)


@pytest.mark.parametrize("autothrottle", ["false", "true"])
def test_a_rate_limited_org_crawl_is_complete_with_hardly_any_429(
    hub, crawl, autothrottle
):
    hub.control("PUT", "/_standin/world", org_world())
    hub.control("PUT", "/_standin/ratelimit", {"limit": 40, "window": 2})
    result = crawl("org", "org=acme", settings={"AUTOTHROTTLE_ENABLED": autothrottle})
    assert_complete(result)
    requests, rate_limited = answers(hub)
    assert requests == 1 + 2 * REPOSITORIES  # nothing had to be sent twice
    assert rate_limited <= 0.01 * requests
    stats = result.stats()
    assert stats["dockerhub/ratelimit/limit"] == 40
    assert 0 <= stats["dockerhub/ratelimit/remaining"] < 40
    # 61 requests do not fit in one window of 40: the budget ran out once.
    assert stats["dockerhub/ratelimit/pauses"] >= 1
    assert stats["dockerhub/ratelimit/paused_seconds"] > 0


def test_a_429_with_retry_after_pauses_until_then_and_loses_nothing(hub, crawl):
    repositories = 6
    hub.control("PUT", "/_standin/world", org_world(repositories, tags=1))
    hub.control("PUT", "/_standin/ratelimit", {"limit": 4, "window": 1})
    # The six detail requests all leave before the first answer is back, so
    # two of them find the budget of four spent and get 429 with Retry-After.
    hub.control(
        "PUT",
        "/_standin/faults",
        [
            {
                "match": r"repositories/r\d+$",
                "action": "delay",
                "seconds": 0.3,
                "times": 6,
            }
        ],
    )
    names = ",".join(f"acme/r{n:02}" for n in range(repositories))
    result = crawl(
        "repo", f"repos={names}", settings={"DOCKERHUB_RATELIMIT_RESERVE": 0}
    )
    assert_complete(result, repositories, tags=1)
    requests, rate_limited = answers(hub)
    # Only the first burst met 429: the pause held every later request back
    # until the window was new.
    assert rate_limited == 2
    assert requests == 2 * repositories + rate_limited
    stats = result.stats()
    assert stats["dockerhub/ratelimit/429"] == rate_limited
    assert stats["dockerhub/ratelimit/rescheduled"] == rate_limited
    assert "dockerhub/ratelimit/429_without_headers" not in stats
    assert "dockerhub/retry/count" not in stats


def test_a_bare_429_waits_the_default_pause_and_uses_no_retries(hub, crawl):
    hub.control("PUT", "/_standin/world", org_world(4))
    hub.control(
        "PUT",
        "/_standin/faults",
        [{"match": "r01/tags", "action": "bare_429", "times": 3}],
    )
    result = crawl(
        "org",
        "org=acme",
        settings={"RETRY_TIMES": 0, "DOCKERHUB_RATELIMIT_DEFAULT_PAUSE": 0.2},
    )
    assert_complete(result, 4)
    stats = result.stats()
    assert stats["dockerhub/ratelimit/429"] == 3
    assert stats["dockerhub/ratelimit/429_without_headers"] == 3
    assert stats["dockerhub/ratelimit/rescheduled"] == 3
    assert stats["dockerhub/ratelimit/paused_seconds"] >= 0.6
    assert "dockerhub/retry/count" not in stats
    log = hub.control("GET", "/_standin/stats")["log"]
    tries = [line[0] for line in log if "r01/tags" in line[2]]
    assert all(later - earlier >= 0.19 for earlier, later in pairwise(tries))


def test_a_request_that_is_always_rate_limited_is_given_up_at_the_cap(hub, crawl):
    hub.control("PUT", "/_standin/world", org_world(4))
    hub.control(
        "PUT",
        "/_standin/faults",
        [{"match": "repositories/r02$", "action": "bare_429", "times": None}],
    )
    result = crawl(
        "org",
        "org=acme",
        settings={
            "DOCKERHUB_RATELIMIT_MAX_RETRIES": 2,
            "DOCKERHUB_RATELIMIT_DEFAULT_PAUSE": 0.05,
        },
    )
    assert result.returncode == 0
    url = f"{hub.url}/v2/namespaces/acme/repositories/r02"
    assert f"WARNING: Gave up on {url}: answered 429 3 times" in result.log
    stats = result.stats()
    assert stats["dockerhub/ratelimit/429"] == 3
    assert stats["dockerhub/ratelimit/gave_up"] == 1
    assert stats["dockerhub/hub/request_failed"] == 1
    assert result.rows("SELECT count(*) FROM repositories") == [(3,)]
    assert result.rows("SELECT count(*) FROM tags") == [(3 * TAGS,)]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DOCKERHUB_RATELIMIT_RESERVE", "-1"),
        ("DOCKERHUB_RATELIMIT_DEFAULT_PAUSE", "a minute"),
        ("DOCKERHUB_RATELIMIT_MAX_RETRIES", "1.5"),
    ],
)
def test_bad_rate_limit_settings_fail_naming_the_setting(name, value):
    settings = Settings()
    settings.setmodule("dockerhub.settings")
    settings.set(name, value)
    with pytest.raises(SettingError, match=f"setting {name}="):
        check_settings(settings)
