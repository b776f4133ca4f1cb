"""Crawls through real forward proxies on loopback (standin.proxy)."""

import json
import socket
from contextlib import ExitStack

import pytest
from scrapy import Request
from scrapy.core.downloader.middleware import DownloaderMiddlewareManager
from scrapy.downloadermiddlewares.httpproxy import HttpProxyMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.test import get_crawler
from twisted.internet.error import ConnectionRefusedError as TCPConnectionRefused

import dockerhub.settings
from dockerhub.middlewares.proxies import ProxyBanDetection, RotatingProxies
from dockerhub.middlewares.proxy_bans import HubBanPolicy
from dockerhub.middlewares.proxy_list import mask_proxy_url
from standin.process import StandIn
from tests import worlds

MIDDLEWARES = "dockerhub.middlewares.proxies"
# A banned stand-in proxy answers a bare 429, after which the Hub rate limiter
# holds that proxy's download slot for its default pause (a minute); requests
# already queued there would wait it out and slow the test down.
SHORT_PAUSE = {"DOCKERHUB_RATELIMIT_DEFAULT_PAUSE": 0.2}


@pytest.fixture
def start_proxy():
    """Start ``python -m standin.proxy ARGS``; every proxy stops after the test."""
    with ExitStack() as stack:

        def start(*args: str) -> StandIn:
            return stack.enter_context(StandIn("standin.proxy", *args))

        yield start


def org_world(repositories: int = 12):
    return worlds.world(
        *(
            worlds.repository("acme", f"r{n:02}", [worlds.tag(f"acme/r{n:02}", "1")])
            for n in range(repositories)
        )
    )


def proxy_stats(proxy: StandIn) -> dict:
    return proxy.control("GET", "/_standin/stats")


def with_credentials(proxy: StandIn, credentials: str) -> str:
    return proxy.url.replace("http://", f"http://{credentials}@")


def free_port() -> int:
    # A port that was free a moment ago: connecting to it is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_complete(result, repositories: int = 12) -> None:
    assert result.returncode == 0, result.log
    assert result.rows("SELECT count(*) FROM repositories") == [(repositories,)]
    assert result.rows("SELECT count(*) FROM tags") == [(repositories,)]
    assert "ERROR" not in result.log


def test_a_crawl_through_two_proxies_uses_both_and_warns_of_nothing(
    hub, crawl, start_proxy, monkeypatch
):
    # Python hides DeprecationWarnings outside __main__ unless asked.
    monkeypatch.setenv("PYTHONWARNINGS", "always")
    hub.control("PUT", "/_standin/world", org_world())
    first, second = start_proxy(), start_proxy()
    result = crawl(
        "org",
        "org=acme",
        settings={"ROTATING_PROXY_LIST": f"{first.url},{second.url}"},
    )
    assert_complete(result)
    forwarded = [proxy_stats(proxy)["forwarded"] for proxy in (first, second)]
    assert min(forwarded) > 0
    assert sum(forwarded) == hub.control("GET", "/_standin/stats")["requests"]
    stats = result.stats()
    assert stats["dockerhub/proxies/configured"] == 2
    assert stats["dockerhub/proxies/requests"] == sum(forwarded)
    assert "dockerhub/proxies/bans" not in stats
    assert f"{MIDDLEWARES}.RotatingProxies" in result.log
    assert "Deprecat" not in result.log
    assert "py.warnings" not in result.log


@pytest.mark.parametrize(
    "ban_status", [429, 403], ids=["429", "403-access-denied-page"]
)
def test_a_banned_proxy_is_set_aside_and_the_crawl_completes_through_the_other(
    hub, crawl, start_proxy, ban_status
):
    hub.control("PUT", "/_standin/world", org_world())
    banned = start_proxy("--ban-after", "1", "--ban-status", str(ban_status))
    healthy = start_proxy()
    result = crawl(
        "org",
        "org=acme",
        settings={"ROTATING_PROXY_LIST": f"{banned.url},{healthy.url}", **SHORT_PAUSE},
    )
    assert_complete(result)
    refused = proxy_stats(banned)["refused"]["banned"]
    stats = result.stats()
    assert refused >= 1
    assert stats["dockerhub/proxies/bans"] == refused
    assert stats[f"dockerhub/proxies/bans/status/{ban_status}"] == refused
    assert stats["dockerhub/proxies/retried"] == refused
    assert "dockerhub/proxies/retries_exhausted" not in stats
    assert list(proxy_stats(healthy)["by_status"]) == ["200"]
    if ban_status == 429:
        # The Hub rate limiter saw the banned proxy's 429s and paused that
        # proxy's slot, but the rotation resent the requests before the
        # rate limiter could hold them for the same proxy.
        assert stats["dockerhub/ratelimit/429"] == refused
        assert "dockerhub/ratelimit/rescheduled" not in stats


def test_a_proxy_that_refuses_connections_is_set_aside(hub, crawl, start_proxy):
    hub.control("PUT", "/_standin/world", org_world())
    live = start_proxy()
    dead = f"http://127.0.0.1:{free_port()}"
    result = crawl(
        "org", "org=acme", settings={"ROTATING_PROXY_LIST": f"{dead},{live.url}"}
    )
    assert_complete(result)
    stats = result.stats()
    errors = {k: v for k, v in stats.items() if "/proxies/bans/error/" in k}
    assert sum(errors.values()) == stats["dockerhub/proxies/bans"] >= 1


def test_a_missing_repository_404_does_not_ban_the_proxy(hub, crawl, start_proxy):
    hub.control("PUT", "/_standin/world", org_world(1))
    proxy = start_proxy()
    result = crawl(
        "repo", "repos=acme/ghost,acme/r00", settings={"ROTATING_PROXY_LIST": proxy.url}
    )
    assert result.returncode == 0, result.log
    stats = result.stats()
    assert stats["dockerhub/repository/not_found"] == 1
    assert "dockerhub/proxies/bans" not in stats
    assert stats["dockerhub/proxies/resting"] == 0
    assert proxy_stats(proxy)["by_status"] == {"404": 1, "200": 2}


def test_a_403_past_the_last_search_page_does_not_ban_the_proxy(
    hub, crawl, start_proxy
):
    hub.control("PUT", "/_standin/world", org_world(2))
    hub.control(
        "PUT",
        "/_standin/faults",
        [{"match": r"search.*page=2", "action": "status", "status": 403}],
    )
    proxy = start_proxy()
    result = crawl(
        "search",
        "query=r0",
        "details=false",
        settings={"ROTATING_PROXY_LIST": proxy.url, "DOCKERHUB_PAGE_SIZE": 1},
    )
    assert result.returncode == 0, result.log
    assert "dockerhub/proxies/bans" not in result.stats()
    assert proxy_stats(proxy)["by_status"]["403"] == 1


def test_proxy_credentials_are_sent_and_never_shown(hub, crawl, start_proxy, tmp_path):
    # Two proxies with their own credentials, one of them banned soon: a
    # request resent from one to the other must carry the other's.
    hub.control("PUT", "/_standin/world", org_world())
    first = start_proxy("--user", "alice:first-S3cret", "--ban-after", "1")
    second = start_proxy("--user", "bob:second@S3cret")
    proxy_list = tmp_path / "proxies.txt"
    proxy_list.write_text(
        "# paid proxies\n"
        f"{with_credentials(first, 'alice:first-S3cret')}\n\n"
        f"{with_credentials(second, 'bob:second%40S3cret')}\n"
    )
    result = crawl(
        "org",
        "org=acme",
        settings={
            "ROTATING_PROXY_LIST_PATH": str(proxy_list),
            "LOG_LEVEL": "DEBUG",
            **SHORT_PAUSE,
        },
    )
    assert_complete(result)
    refused = proxy_stats(first)["refused"]
    assert refused["auth"] == 0
    assert refused["banned"] >= 1
    assert proxy_stats(second)["refused"]["auth"] == 0
    assert result.stats()["dockerhub/proxies/bans"] >= 1
    stored = json.dumps(result.rows("SELECT * FROM crawl_runs"))
    for secret in ("S3cret", "first-S3cret", "second%40S3cret"):
        assert secret not in result.log
        assert secret not in stored
    assert "alice:***@127.0.0.1" in result.log


def test_a_proxy_that_refuses_the_credentials_is_set_aside_with_one_warning(
    hub, crawl, start_proxy
):
    hub.control("PUT", "/_standin/world", org_world())
    strict = start_proxy("--user", "alice:right")
    open_proxy = start_proxy()
    result = crawl(
        "org",
        "org=acme",
        settings={
            "ROTATING_PROXY_LIST": f"{with_credentials(strict, 'alice:wrong')},"
            f"{open_proxy.url}"
        },
    )
    assert result.rows("SELECT count(*) FROM tags") == [(12,)]
    assert result.stats()["dockerhub/proxies/bans/status/407"] >= 1
    assert result.log.count("refused its credentials (HTTP 407)") == 1
    assert "wrong" not in result.log


def test_with_close_spider_on_the_crawl_stops_once_every_proxy_is_banned(
    hub, crawl, start_proxy
):
    hub.control("PUT", "/_standin/world", org_world())
    proxy = start_proxy("--ban-after", "2")
    result = crawl(
        "org",
        "org=acme",
        settings={
            "ROTATING_PROXY_LIST": proxy.url,
            "ROTATING_PROXY_CLOSE_SPIDER": True,
            **SHORT_PAUSE,
        },
    )
    stats = result.stats()
    assert stats["finish_reason"] == "no_proxies"
    assert stats["dockerhub/proxies/exhausted"] == 1
    assert "All 1 proxies are banned or unreachable; closing the spider" in result.log


def test_without_a_proxy_list_the_proxy_middlewares_are_off(hub, crawl):
    hub.control("PUT", "/_standin/world", org_world(1))
    result = crawl("org", "org=acme")
    assert_complete(result, repositories=1)
    assert MIDDLEWARES not in result.log
    assert not [key for key in result.stats() if "proxies" in key]


@pytest.mark.parametrize(
    "entry",
    [
        "ftp://crawler:hunter2@proxy.example:21",
        "http://crawler:hunter2@proxy.example:port",
        "http://crawler:hunter2@proxy.example:8080/path",
    ],
)
def test_a_bad_proxy_url_stops_the_crawl_at_start_without_its_password(
    hub, crawl, entry
):
    result = crawl("org", "org=acme", settings={"ROTATING_PROXY_LIST": entry})
    assert result.returncode == 2
    assert "ROTATING_PROXY_LIST=" in result.log
    assert "crawler:***@proxy.example" in result.log
    assert "hunter2" not in result.log


def test_a_ban_policy_that_cannot_be_loaded_stops_the_crawl_at_start(hub, crawl):
    result = crawl(
        "org",
        "org=acme",
        settings={
            "ROTATING_PROXY_LIST": "http://127.0.0.1:1",
            "ROTATING_PROXY_BAN_POLICY": "dockerhub.middlewares.proxy_bans.Nothing",
        },
    )
    assert result.returncode == 2
    assert "setting ROTATING_PROXY_BAN_POLICY=" in result.log
    assert "Traceback" not in result.log


# -- the ban policy, answer by answer ------------------------------------------

SEARCH_URL = "https://hub.docker.com/v2/search/repositories/?query=x&page=9"
HUB_ERROR = b'{"message":"page out of range","errinfo":{}}'


@pytest.mark.parametrize(
    ("status", "headers", "body", "ban"),
    [
        (200, {}, b"{}", False),
        (429, {}, b"", True),
        (429, {"Retry-After": "30"}, b'{"detail":"Rate limit exceeded"}', True),
        (407, {}, b"", True),
        (404, {}, b'{"message":"object not found","errinfo":{}}', False),
        (
            401,
            {"WWW-Authenticate": 'Bearer realm="https://auth.docker.io/token"'},
            b'{"errors":[{"code":"UNAUTHORIZED"}]}',
            False,
        ),
        (403, {}, HUB_ERROR, False),
        (403, {}, b"", False),
        (403, {"Retry-After": "60"}, HUB_ERROR, True),
        (403, {"X-RateLimit-Remaining": "0"}, b"", True),
        (403, {"X-RateLimit-Remaining": "12"}, HUB_ERROR, False),
        (403, {"cf-mitigated": "challenge"}, b"<html></html>", True),
        (403, {}, b"<html><title>Access denied</title></html>", True),
        (403, {}, b'{"detail":"Rate limit exceeded"}', True),
        (500, {}, b"", None),
        (503, {}, b"", None),
    ],
)
def test_the_ban_policy_tells_bans_from_ordinary_answers(status, headers, body, ban):
    response = Response(SEARCH_URL, status=status, headers=headers, body=body)
    assert HubBanPolicy().response_is_ban(Request(SEARCH_URL), response) is ban


def test_a_refused_connection_is_a_ban_and_an_ignored_request_is_not():
    policy = HubBanPolicy()
    request = Request(SEARCH_URL)
    assert policy.exception_is_ban(request, TCPConnectionRefused()) is True
    assert policy.exception_is_ban(request, IgnoreRequest()) is None


# -- in process: what a request carries once a proxy is chosen -----------------


def project_crawler(**settings):
    # Only the rotation's own defaults: the rest of the project (extensions,
    # the reactor) has no part in what these tests look at.
    defaults = {
        name: value
        for name, value in vars(dockerhub.settings).items()
        if name.startswith("ROTATING_PROXY_")
    }
    return get_crawler(settings_dict={**defaults, **settings})


def test_each_proxy_has_its_own_slot_and_meta_never_holds_credentials():
    crawler = project_crawler(
        ROTATING_PROXY_LIST="http://u:pw@127.0.0.1:8001,http://127.0.0.1:8002"
    )
    rotating = RotatingProxies.from_crawler(crawler)
    # Building the chain is where Scrapy warns of spider arguments; warnings
    # are errors in this test suite.
    DownloaderMiddlewareManager(
        rotating, ProxyBanDetection.from_crawler(crawler), crawler=crawler
    )
    seen = {}
    for _ in range(200):
        request = Request("http://hub.example/v2/x")
        rotating.process_request(request)
        seen[request.meta["proxy"]] = request
    assert set(seen) == {"http://127.0.0.1:8001", "http://127.0.0.1:8002"}
    assert seen["http://127.0.0.1:8001"].meta["download_slot"] == "127.0.0.1:8001"
    assert seen["http://127.0.0.1:8002"].meta["download_slot"] == "127.0.0.1:8002"
    assert seen["http://127.0.0.1:8001"].headers["Proxy-Authorization"] == (
        b"Basic dTpwdw=="
    )
    assert b"Proxy-Authorization" not in seen["http://127.0.0.1:8002"].headers


def test_a_request_moved_to_another_proxy_carries_that_proxys_credentials():
    crawler = project_crawler(
        ROTATING_PROXY_LIST="http://a:1@127.0.0.1:8001,http://b:2@127.0.0.1:8002"
    )
    rotating = RotatingProxies.from_crawler(crawler)
    http_proxy = HttpProxyMiddleware()
    request = Request("http://hub.example/v2/x")
    rotating.process_request(request)
    http_proxy.process_request(request)
    first = request.meta["proxy"]
    moved = request
    while moved.meta["proxy"] == first:
        moved = request.copy()
        rotating.process_request(moved)
    http_proxy.process_request(moved)
    expected = {
        "http://127.0.0.1:8001": b"Basic YTox",
        "http://127.0.0.1:8002": b"Basic Yjoy",
    }
    assert moved.headers["Proxy-Authorization"] == expected[moved.meta["proxy"]]


def test_masking_keeps_the_user_and_hides_the_password():
    assert mask_proxy_url("http://u:p@h:1") == "http://u:***@h:1"
    assert mask_proxy_url("u:p@w@h:1") == "u:***@h:1"
    assert mask_proxy_url("http://h:1") == "http://h:1"
