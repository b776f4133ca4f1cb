"""The Hub API stand-in answers with the shapes and quirks of Docker Hub."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from standin.process import StandIn

DEMO = Path(__file__).resolve().parent.parent / "standin" / "data" / "demo.json"


@pytest.fixture(scope="module")
def standin_hub() -> Iterator[StandIn]:
    with StandIn(
        "standin.hub", "--data", str(DEMO), "--synthetic-repo", "big/many:20000"
    ) as server:
        yield server


@pytest.fixture
def hub(standin_hub: StandIn) -> StandIn:
    """The stand-in with the demo world, no faults, no limit, fresh counters."""
    standin_hub.control("PUT", "/_standin/world", json.loads(DEMO.read_text()))
    standin_hub.control("PUT", "/_standin/faults", [])
    standin_hub.control("PUT", "/_standin/ratelimit", {"limit": None})
    standin_hub.control("POST", "/_standin/stats/reset")
    return standin_hub


def fetch(url: str) -> tuple[int, Message, bytes]:
    """Status, headers and raw body of a GET, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def fetch_json(url: str) -> tuple[int, Any]:
    status, _, body = fetch(url)
    return status, json.loads(body)


def test_next_links_are_absolute_and_escape_ampersands(hub: StandIn) -> None:
    url = f"{hub.url}/v2/namespaces/demo/repositories/postgresql/tags?page_size=100"
    status, _, raw = fetch(url)

    assert status == 200
    assert b"page=2\\u0026page_size=100" in raw
    assert b"&" not in raw
    first = json.loads(raw)
    assert first["count"] == 250
    assert first["previous"] is None
    assert first["next"].startswith(f"{hub.url}/v2/namespaces/demo/")

    second = fetch_json(first["next"])[1]
    third = fetch_json(second["next"])[1]
    assert second["previous"] == f"{url.replace('?', '?page=1&')}"
    assert [len(page["results"]) for page in (first, second, third)] == [100, 100, 50]
    assert third["next"] is None
    names = [tag["name"] for page in (first, second, third) for tag in page["results"]]
    assert len(set(names)) == 250


def test_page_size_is_capped_at_100(hub: StandIn) -> None:
    url = f"{hub.url}/v2/repositories/big/many/tags/?page_size=1000"
    status, page = fetch_json(url)

    assert status == 200
    assert len(page["results"]) == 100
    assert page["count"] == 20_000
    assert "page_size=1000" in page["next"]


def test_unknown_namespace_is_an_empty_first_page(hub: StandIn) -> None:
    status, page = fetch_json(f"{hub.url}/v2/namespaces/nobody/repositories")

    assert status == 200
    assert page == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize(
    "path",
    [
        "/v2/namespaces/demo/repositories?page=2",
        "/v2/repositories/demo/?page=2",
        "/v2/namespaces/nobody/repositories?page=2",
        "/v2/namespaces/demo/repositories/postgresql/tags?page=4&page_size=100",
        "/v2/repositories/demo/postgresql/tags/?page=26",
    ],
)
def test_a_page_past_the_end_of_a_list_is_404(hub: StandIn, path: str) -> None:
    status, body = fetch_json(hub.url + path)

    assert status == 404
    assert body == {"message": "object not found", "errinfo": {}}


def test_search_finds_official_images_by_bare_name_and_403s_past_the_end(
    hub: StandIn,
) -> None:
    status, page = fetch_json(f"{hub.url}/v2/search/repositories/?query=NGINX")
    past_end, _ = fetch_json(f"{hub.url}/v2/search/repositories/?query=nginx&page=2")

    assert status == 200
    assert page["count"] == 1
    assert page["results"][0]["repo_name"] == "nginx"
    assert page["results"][0]["is_official"] is True
    assert past_end == 403
    assert fetch(f"{hub.url}/v2/search/repositories/?query=")[0] == 400


def test_listing_entries_lack_detail_fields_and_keep_nulls(hub: StandIn) -> None:
    url = f"{hub.url}/v2/repositories/demo/?page_size=100&ordering=-pull_count"
    entries = {r["name"]: r for r in fetch_json(url)[1]["results"]}
    _, detail = fetch_json(f"{hub.url}/v2/namespaces/demo/repositories/legacy-tool")

    assert next(iter(entries)) == "postgresql"
    assert "full_description" not in entries["postgresql"]
    assert "permissions" not in entries["postgresql"]
    assert entries["never-pushed"]["last_updated"] is None
    assert entries["never-pushed"]["repository_type"] is None
    assert "full_description" not in detail
    assert detail["permissions"] == {"read": True, "write": False, "admin": False}


def test_an_old_tag_has_no_digest_and_no_images(hub: StandIn) -> None:
    base = f"{hub.url}/v2/namespaces/demo/repositories/legacy-tool/tags"
    status, tag = fetch_json(f"{base}/0.9")
    missing_status, missing = fetch_json(f"{base}/nope")

    assert status == 200
    assert "digest" not in tag
    assert (tag["full_size"], tag["images"]) == (0, [])
    assert missing_status == 404
    assert missing["message"] == "httperror 404: tag 'nope' not found"


def test_an_unknown_ordering_is_400(hub: StandIn) -> None:
    url = f"{hub.url}/v2/namespaces/demo/repositories?ordering=stars"
    status, body = fetch_json(url)

    assert status == 400
    assert body["text"] == "Invalid ordering value"
    assert "ordering" in body["fields"]


def test_synthetic_tags_are_computed_with_distinct_digests(hub: StandIn) -> None:
    url = f"{hub.url}/v2/repositories/big/many/tags/?page=200&page_size=100"
    status, page = fetch_json(url)
    last = page["results"][-1]
    _, again = fetch_json(f"{hub.url}/v2/repositories/big/many/tags/{last['name']}/")

    assert status == 200
    assert page["next"] is None
    assert again == last
    digests = {image["digest"] for tag in page["results"] for image in tag["images"]}
    assert len(digests) == 200


def test_over_the_rate_limit_answers_429_with_retry_after(hub: StandIn) -> None:
    hub.control("PUT", "/_standin/ratelimit", {"limit": 2, "window": 60})
    url = f"{hub.url}/v2/repositories/demo/redis/"

    answers = [fetch(url) for _ in range(3)]

    assert [status for status, _, _ in answers] == [200, 200, 429]
    assert [h["X-RateLimit-Remaining"] for _, h, _ in answers] == ["1", "0", "0"]
    assert all(h["X-RateLimit-Limit"] == "2" for _, h, _ in answers)
    assert int(answers[0][1]["X-RateLimit-Reset"]) >= int(time.time())
    assert 1 <= int(answers[2][1]["Retry-After"]) <= 60
    assert json.loads(answers[2][2]) == {
        "detail": "Rate limit exceeded",
        "error": False,
    }
    stats: Any = hub.control("GET", "/_standin/stats")
    assert stats["status"] == {"200": 2, "429": 1}


def test_a_fault_rule_fires_exactly_as_many_times_as_asked(hub: StandIn) -> None:
    rule = {"match": r"/tags/\?", "action": "status", "status": 503, "times": 2}
    hub.control("PUT", "/_standin/faults", [rule])
    url = f"{hub.url}/v2/repositories/demo/redis/tags/?page_size=2"

    statuses = [fetch(url)[0] for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert fetch(f"{hub.url}/v2/repositories/demo/redis/")[0] == 200
    stats: Any = hub.control("GET", "/_standin/stats")
    assert stats["by_kind"]["tags"] == 3
    assert stats["status"] == {"503": 2, "200": 2}


def test_misbehaving_faults_break_the_answer_as_asked(hub: StandIn) -> None:
    hub.control(
        "PUT",
        "/_standin/faults",
        [
            {"match": "bad", "action": "bad_json"},
            {"match": "reset", "action": "reset"},
            {"match": "bare", "action": "bare_429"},
            {"match": "slow", "action": "delay", "seconds": 0.3},
        ],
    )
    base = f"{hub.url}/v2/repositories/demo"

    status, headers, body = fetch(f"{base}/bad/")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        fetch(f"{base}/reset/")
    status, headers, body = fetch(f"{base}/bare/")
    assert (status, body, headers["Retry-After"]) == (429, b"", None)
    started = time.monotonic()
    assert fetch(f"{base}/slow/")[0] == 404
    assert time.monotonic() - started >= 0.3


def test_a_new_world_replaces_the_old_one(hub: StandIn) -> None:
    world = json.loads(DEMO.read_text())
    redis = next(r for r in world["repositories"] if r["name"] == "redis")
    redis["pull_count"] = 1
    redis["tags"] = redis["tags"][:1]
    hub.control("PUT", "/_standin/world", world)

    _, detail = fetch_json(f"{hub.url}/v2/repositories/demo/redis/")
    _, tags = fetch_json(f"{hub.url}/v2/repositories/demo/redis/tags/")

    assert detail["pull_count"] == 1
    assert tags["count"] == 1


def test_public_url_names_the_host_in_pagination_links() -> None:
    arguments = ("--synthetic-org", "bench:30:1", "--public-url", "http://hub.test/")
    with StandIn("standin.hub", *arguments) as hub:
        _, page = fetch_json(f"{hub.url}/v2/namespaces/bench/repositories")

    assert page["count"] == 30
    assert page["next"] == "http://hub.test/v2/namespaces/bench/repositories?page=2"
