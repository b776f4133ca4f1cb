"""End-to-end crawls of the search and repo spiders, and feeds."""

import csv
import json

from tests import worlds


def nginx_world():
    return worlds.world(
        worlds.repository(
            "library", "nginx", [worlds.tag("library/nginx", "1.27")], pull_count=10**9
        ),
        worlds.repository(
            "acme", "nginx-proxy", [worlds.tag("acme/nginx-proxy", "v1")], pull_count=3
        ),
        worlds.repository("acme", "other", [worlds.tag("acme/other", "x")]),
    )


def test_search_stores_matches_with_official_images_under_library(hub, crawl):
    hub.control("PUT", "/_standin/world", nginx_world())
    result = crawl("search", "query=nginx", settings={"DOCKERHUB_PAGE_SIZE": 1})
    assert result.returncode == 0, result.log
    assert result.rows(
        "SELECT full_name, is_official, full_description IS NOT NULL "
        "FROM repositories ORDER BY 1"
    ) == [("acme/nginx-proxy", 0, 1), ("library/nginx", 1, 1)]
    assert result.rows("SELECT repo_name, tag_name FROM tags ORDER BY 1") == [
        ("acme/nginx-proxy", "v1"),
        ("library/nginx", "1.27"),
    ]
    assert result.stats()["dockerhub/search/pages"] == 2


def test_search_max_pages_limits_the_pages_read(hub, crawl):
    hub.control("PUT", "/_standin/world", nginx_world())
    result = crawl(
        "search", "query=nginx", "max_pages=1", settings={"DOCKERHUB_PAGE_SIZE": 1}
    )
    assert result.rows("SELECT count(*) FROM repositories") == [(1,)]
    assert hub.control("GET", "/_standin/stats")["by_kind"]["search"] == 1


def test_search_stops_cleanly_on_403_past_the_last_page(hub, crawl):
    hub.control("PUT", "/_standin/world", nginx_world())
    hub.control(
        "PUT",
        "/_standin/faults",
        [{"match": r"search.*page=2", "action": "status", "status": 403, "times": 1}],
    )
    result = crawl("search", "query=nginx", settings={"DOCKERHUB_PAGE_SIZE": 1})
    assert result.returncode == 0
    assert "ended at page 2 (HTTP 403)" in result.log
    assert "ERROR" not in result.log
    assert result.rows("SELECT count(*) FROM repositories") == [(1,)]


def test_search_without_details_keeps_the_search_fields(hub, crawl):
    hub.control("PUT", "/_standin/world", nginx_world())
    result = crawl("search", "query=nginx", "details=false")
    assert hub.control("GET", "/_standin/stats")["by_kind"]["detail"] == 0
    assert result.rows("SELECT full_name, pull_count FROM repositories ORDER BY 1") == [
        ("acme/nginx-proxy", 3),
        ("library/nginx", 10**9),
    ]


def test_repo_spider_crawls_named_repositories_and_skips_missing_ones(
    hub, crawl, tmp_path
):
    hub.control("PUT", "/_standin/world", nginx_world())
    names = tmp_path / "repos.txt"
    names.write_text("# from the audit\nacme/other\n\nacme/ghost  # deleted\n")
    result = crawl("repo", "repos=nginx,nginx", f"repos_file={names}")
    assert result.returncode == 0
    assert result.rows("SELECT full_name FROM repositories ORDER BY 1") == [
        ("acme/other",),
        ("library/nginx",),
    ]
    assert "Repository acme/ghost does not exist on Docker Hub" in result.log
    assert result.stats()["dockerhub/repository/not_found"] == 1
    assert result.rows("SELECT spider, arguments FROM crawl_runs") == [
        ("repo", json.dumps({"repos": "nginx,nginx", "repos_file": str(names)}))
    ]


def test_json_lines_feed_holds_repositories_and_tags(hub, crawl, tmp_path):
    hub.control("PUT", "/_standin/world", nginx_world())
    feed = tmp_path / "items.jsonl"
    crawl("repo", "repos=nginx", extra=("-O", str(feed)))
    records = [json.loads(line) for line in feed.read_text().splitlines()]
    kinds = sorted("tag_name" in record for record in records)
    assert kinds == [False, True]
    [tag] = [record for record in records if "tag_name" in record]
    assert tag["images"][0]["architecture"] == "amd64"


def test_csv_feed_is_flat_with_json_text_for_lists(hub, crawl, tmp_path):
    hub.control("PUT", "/_standin/world", nginx_world())
    feed = tmp_path / "items.csv"
    crawl("repo", "repos=nginx", extra=("-O", str(feed)))
    with feed.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    by_type = {record["item_type"]: record for record in records}
    assert set(by_type) == {"repository", "tag"}
    assert by_type["repository"]["full_name"] == "library/nginx"
    images = json.loads(by_type["tag"]["images"])
    assert [image["architecture"] for image in images] == ["amd64", "arm64"]
    assert json.loads(by_type["repository"]["content_types"]) == ["image"]


def test_one_feed_per_item_type(hub, crawl, tmp_path):
    hub.control("PUT", "/_standin/world", nginx_world())
    feeds = {
        str(tmp_path / "repositories.csv"): {
            "format": "csv",
            "item_classes": ["dockerhub.items.RepositoryItem"],
        },
        str(tmp_path / "tags.jsonl"): {
            "format": "jsonlines",
            "item_classes": ["dockerhub.items.TagItem"],
        },
    }
    crawl("search", "query=nginx", settings={"FEEDS": json.dumps(feeds)})
    with (tmp_path / "repositories.csv").open(newline="", encoding="utf-8") as handle:
        repositories = list(csv.DictReader(handle))
    tags = (tmp_path / "tags.jsonl").read_text().splitlines()
    assert sorted(row["full_name"] for row in repositories) == [
        "acme/nginx-proxy",
        "library/nginx",
    ]
    assert {row["item_type"] for row in repositories} == {"repository"}
    assert sorted(json.loads(line)["tag_name"] for line in tags) == ["1.27", "v1"]
