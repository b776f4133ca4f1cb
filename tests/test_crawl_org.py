"""End-to-end crawls of the org spider against the Hub stand-in."""

from tests import worlds


def acme_world(web_tags: int = 250):
    web = worlds.repository(
        "acme",
        "web",
        [worlds.tag("acme/web", f"1.{n}") for n in range(web_tags)],
        pull_count=5000,
    )
    db = worlds.repository(
        "acme",
        "db",
        [
            worlds.tag("acme/db", "latest", platforms=("linux/amd64",)),
            worlds.old_tag("0.1"),
        ],
        description=None,
        last_updated=None,
        pull_count=42,
    )
    empty = worlds.repository("acme", "empty", [])
    del empty["full_description"]
    return worlds.world(web, db, empty)


def test_org_crawl_stores_every_repository_and_every_tag(hub, crawl):
    hub.control("PUT", "/_standin/world", acme_world())
    result = crawl("org", "org=acme")
    assert result.returncode == 0, result.log
    assert result.rows("SELECT full_name, pull_count FROM repositories ORDER BY 1") == [
        ("acme/db", 42),
        ("acme/empty", 1000),
        ("acme/web", 5000),
    ]
    assert result.rows(
        "SELECT repo_name, count(*) FROM tags GROUP BY 1 ORDER BY 1"
    ) == [("acme/db", 2), ("acme/web", 250)]
    assert result.rows("SELECT count(*) FROM images WHERE repo_name = 'acme/web'") == [
        (500,)
    ]
    stats = result.stats()
    assert stats["dockerhub/repository/scraped"] == 3
    assert stats["dockerhub/tags/scraped"] == 252
    assert stats["dockerhub/db/tags"] == 252
    assert stats["finish_reason"] == "finished"


def test_nullable_and_absent_fields_are_stored_as_null(hub, crawl):
    hub.control("PUT", "/_standin/world", acme_world(web_tags=1))
    result = crawl("org", "org=acme")
    assert result.rows(
        "SELECT description, last_updated FROM repositories WHERE name = 'db'"
    ) == [(None, None)]
    assert result.rows(
        "SELECT full_description FROM repositories WHERE name = 'empty'"
    ) == [(None,)]
    assert result.rows(
        "SELECT digest, full_size, last_pulled FROM tags WHERE tag_name = '0.1'"
    ) == [(None, 0, None)]
    assert result.rows(
        "SELECT os, architecture, variant FROM images WHERE repo_name = 'acme/db'"
    ) == [("linux", "amd64", None)]


def test_listing_pagination_follows_next_links_to_the_end(hub, crawl):
    repositories = [worlds.repository("many", f"r{n:02}") for n in range(7)]
    hub.control("PUT", "/_standin/world", worlds.world(*repositories))
    result = crawl("org", "org=many", settings={"DOCKERHUB_PAGE_SIZE": 2})
    assert result.rows("SELECT count(*) FROM repositories") == [(7,)]
    assert result.stats()["dockerhub/listing/pages"] == 4


def test_an_unknown_namespace_warns_and_exits_zero(hub, crawl):
    result = crawl("org", "org=nobody")
    assert result.returncode == 0
    assert "Namespace nobody has no public repositories" in result.log
    assert result.stats()["dockerhub/namespace/empty"] == 1
    assert result.rows("SELECT count(*) FROM repositories") == [(0,)]


def test_several_namespaces_in_one_crawl(hub, crawl):
    hub.control(
        "PUT",
        "/_standin/world",
        worlds.world(worlds.repository("one", "a"), worlds.repository("two", "b")),
    )
    result = crawl("org", "org=one,two")
    assert result.rows("SELECT full_name FROM repositories ORDER BY 1") == [
        ("one/a",),
        ("two/b",),
    ]


def test_details_false_skips_detail_requests_but_keeps_listing_fields(hub, crawl):
    hub.control("PUT", "/_standin/world", acme_world(web_tags=3))
    result = crawl("org", "org=acme", "details=false")
    stats = hub.control("GET", "/_standin/stats")
    assert stats["by_kind"]["detail"] == 0
    assert result.rows(
        "SELECT pull_count, full_description FROM repositories WHERE name = 'web'"
    ) == [(5000, None)]
    assert result.rows("SELECT count(*) FROM tags") == [(5,)]


def test_max_tags_caps_tags_per_repository_and_removes_nothing(hub, crawl):
    hub.control("PUT", "/_standin/world", acme_world())
    first = crawl("org", "org=acme")
    assert first.rows("SELECT count(*) FROM tags") == [(252,)]
    hub.control("POST", "/_standin/stats/reset")
    capped = crawl("org", "org=acme", "max_tags=10")
    assert hub.control("GET", "/_standin/stats")["by_kind"]["tags"] == 3
    assert capped.rows(
        "SELECT count(*) FROM tags WHERE repo_name = 'acme/web' AND run_id = 2"
    ) == [(10,)]
    assert capped.rows("SELECT count(*) FROM tags WHERE removed_at IS NOT NULL") == [
        (0,)
    ]


def test_a_second_crawl_updates_and_marks_vanished_tags_removed(hub, crawl):
    hub.control("PUT", "/_standin/world", acme_world(web_tags=5))
    first = crawl("org", "org=acme")
    assert first.returncode == 0
    changed = acme_world(web_tags=3)
    changed["repositories"][0]["pull_count"] = 6000
    hub.control("PUT", "/_standin/world", changed)
    second = crawl("org", "org=acme")
    assert second.returncode == 0
    assert second.rows("SELECT count(*) FROM repositories") == [(3,)]
    assert second.rows("SELECT count(*) FROM tags") == [(7,)]
    assert second.rows(
        "SELECT tag_name FROM tags WHERE removed_at IS NOT NULL ORDER BY 1"
    ) == [("1.3",), ("1.4",)]
    assert second.rows(
        "SELECT pull_count FROM pull_history WHERE repo_name = 'acme/web' "
        "ORDER BY run_id"
    ) == [(5000,), (6000,)]
    assert second.rows("SELECT id, spider, status FROM crawl_runs") == [
        (1, "org", "finished"),
        (2, "org", "finished"),
    ]
    assert second.stats()["dockerhub/db/tags_marked_removed"] == 2
