import sqlite3

import pytest

from dockerhub.items import RepositoryItem, TagItem
from dockerhub.storage.schema import MIGRATIONS, SCHEMA_VERSION
from dockerhub.storage.sqlite import Batch, SchemaError, SQLiteStorage


@pytest.fixture
def storage(tmp_path):
    store = SQLiteStorage(tmp_path / "hub.db")
    store.open()
    yield store
    store.close()


def repository(**fields):
    defaults = {"full_name": "acme/web", "namespace": "acme", "name": "web"}
    return RepositoryItem(**{**defaults, **fields})


def tag(name, **fields):
    return TagItem(repo_name="acme/web", tag_name=name, **fields)


def rows(storage, sql, *params):
    return storage.db.execute(sql, params).fetchall()


def test_a_new_file_gets_the_current_schema_in_wal_mode(storage):
    assert rows(storage, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert rows(storage, "PRAGMA journal_mode") == [("wal",)]


def test_a_file_from_a_newer_release_is_refused(tmp_path):
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaError, match="newer than this release"):
        SQLiteStorage(path).open()


def test_a_second_crawl_updates_rows_instead_of_duplicating_them(storage):
    first = storage.start_run("org", {"org": "acme"})
    storage.write(
        Batch([repository(pull_count=10)], [tag("1", digest="sha256:a")]), first
    )
    second = storage.start_run("org", {"org": "acme"})
    storage.write(
        Batch([repository(pull_count=25)], [tag("1", digest="sha256:b")]), second
    )
    assert rows(storage, "SELECT full_name, pull_count FROM repositories") == [
        ("acme/web", 25)
    ]
    assert rows(storage, "SELECT tag_name, digest FROM tags") == [("1", "sha256:b")]
    assert rows(
        storage, "SELECT run_id, pull_count FROM pull_history ORDER BY run_id"
    ) == [(first, 10), (second, 25)]


def test_a_search_crawl_does_not_erase_details_from_an_earlier_crawl(storage):
    run = storage.start_run("repo", {})
    detailed = repository(full_description="# Long", last_updated="2024", pull_count=1)
    storage.write(Batch([detailed]), run)
    quick = repository(source="search", pull_count=2, description="short")
    storage.write(Batch([quick]), storage.start_run("search", {}))
    assert rows(
        storage,
        "SELECT full_description, last_updated, pull_count, description "
        "FROM repositories",
    ) == [("# Long", "2024", 2, "short")]


def test_images_of_a_tag_are_replaced_not_accumulated(storage):
    run = storage.start_run("org", {})
    two = [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64"},
    ]
    storage.write(Batch(tags=[tag("1", images=two)]), run)
    storage.write(Batch(tags=[tag("1", images=two[:1])]), run)
    assert rows(storage, "SELECT architecture FROM images") == [("amd64",)]


def test_tags_missing_from_a_complete_crawl_are_marked_removed(storage):
    first = storage.start_run("org", {})
    storage.write(
        Batch(tags=[tag("1"), tag("2")], complete_tag_lists=["acme/web"]), first
    )
    assert storage.mark_removed_tags(first) == 0
    second = storage.start_run("org", {})
    storage.write(Batch(tags=[tag("2")], complete_tag_lists=["acme/web"]), second)
    assert storage.mark_removed_tags(second) == 1
    assert rows(
        storage, "SELECT tag_name, removed_at IS NOT NULL FROM tags ORDER BY tag_name"
    ) == [("1", 1), ("2", 0)]


def test_an_incomplete_crawl_marks_nothing_removed(storage):
    storage.write(Batch(tags=[tag("1"), tag("2")]), storage.start_run("org", {}))
    second = storage.start_run("org", {"max_tags": "1"})
    storage.write(Batch(tags=[tag("2")]), second)
    assert storage.mark_removed_tags(second) == 0


def test_a_removed_tag_that_returns_is_current_again(storage):
    first = storage.start_run("org", {})
    storage.write(Batch(tags=[tag("1")]), first)
    second = storage.start_run("org", {})
    storage.write(Batch(complete_tag_lists=["acme/web"]), second)
    storage.mark_removed_tags(second)
    storage.write(Batch(tags=[tag("1")]), storage.start_run("org", {}))
    assert rows(storage, "SELECT removed_at FROM tags") == [(None,)]


def test_text_is_stored_verbatim(storage):
    text = 'Robert\'); DROP TABLE repositories;-- «ünïcode» 🐳 "q"'
    storage.write(Batch([repository(description=text)]), storage.start_run("org", {}))
    assert rows(storage, "SELECT description FROM repositories") == [(text,)]


def test_runs_left_running_by_a_dead_process_are_marked_interrupted(storage):
    run = storage.start_run("org", {})
    storage.db.execute("UPDATE crawl_runs SET pid = 2147483647 WHERE id = ?", (run,))
    storage.start_run("org", {})
    assert rows(storage, "SELECT status FROM crawl_runs WHERE id = ?", run) == [
        ("interrupted",)
    ]


def test_finishing_a_run_records_reason_counts_and_stats(storage):
    run = storage.start_run("org", {"org": "acme"})
    storage.finish_run(run, "finished", {"item_scraped_count": 3}, {"tags": 2})
    [(status, reason, tags, stats)] = rows(
        storage, "SELECT status, finish_reason, tags, stats FROM crawl_runs"
    )
    assert (status, reason, tags) == ("finished", "finished", 2)
    assert '"item_scraped_count": 3' in stats


def test_a_version_1_file_is_upgraded_in_place_keeping_its_rows(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for statement in MIGRATIONS[0].split(";\n"):
            if statement.strip():
                db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO tag_images (repo_name, tag_name, position, os, "
            "architecture, digest) VALUES ('a/b', '1', 0, 'linux', 'amd64', 'sha256:x')"
        )
    store = SQLiteStorage(path)
    store.open()
    try:
        assert rows(store, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert rows(store, "SELECT repo_name, architecture, created FROM images") == [
            ("a/b", "amd64", None)
        ]
        assert rows(store, "SELECT count(*) FROM image_layers") == [(0,)]
    finally:
        store.close()
