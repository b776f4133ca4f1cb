"""A crawl stopped part-way leaves usable data, and the same command finishes it.

Each test crawls a synthetic namespace of REPOSITORIES x TAGS from its own
Hub stand-in, slowed down by a delay on every tag page so that there is
time to stop the crawl in the middle: with SIGKILL (nothing runs after it)
or with SIGINT and a JOBDIR (Scrapy closes gracefully and keeps its queue).
"""

from __future__ import annotations

import json
import math
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockerhub.items import TagItem
from dockerhub.pipelines.sqlite import JOB_FILE, first_run_of_job
from dockerhub.storage.sqlite import Batch, SQLiteStorage
from standin.process import StandIn

REPO_ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "big"
REPOSITORIES = 60
TAGS = 150
PAGE_SIZE = 100
PLATFORMS = 2  # every synthetic tag has an amd64 and an arm64/v8 image
TAG_PAGES = REPOSITORIES * math.ceil(TAGS / PAGE_SIZE)
TAG_PAGE_DELAY = 0.2
STOP_AFTER_TAGS = 2000
CRAWL_TIMEOUT = 60.0
# Requests a resumed crawl may repeat: those in flight when it was paused.
RESUME_MARGIN = 8


@pytest.fixture(scope="module")
def big_hub() -> Iterator[StandIn]:
    spec = f"{NAMESPACE}:{REPOSITORIES}:{TAGS}"
    with StandIn("standin.hub", "--synthetic-org", spec) as server:
        yield server


@pytest.fixture
def slow_hub(big_hub: StandIn) -> Iterator[StandIn]:
    big_hub.control(
        "PUT",
        "/_standin/faults",
        [
            {
                "match": r"/tags\?",
                "action": "delay",
                "seconds": TAG_PAGE_DELAY,
                "times": None,
            }
        ],
    )
    big_hub.control("POST", "/_standin/stats/reset")
    yield big_hub
    # The stand-in still answers (and counts) what a killed crawl asked for;
    # let that finish before the next test resets the counters.
    time.sleep(3 * TAG_PAGE_DELAY)


def crawl_command(hub: StandIn, db_path: Path, *settings: str) -> list[str]:
    command = [sys.executable, "-m", "scrapy", "crawl", "org", "-a", f"org={NAMESPACE}"]
    for setting in (
        f"DOCKERHUB_HUB_URL={hub.url}",
        f"DOCKERHUB_DB={db_path}",
        f"DOCKERHUB_PAGE_SIZE={PAGE_SIZE}",
        # Small batches mean many commits, so the crawl is stopped between
        # some and, with luck, inside one.
        "DOCKERHUB_DB_BATCH_SIZE=150",
        "AUTOTHROTTLE_ENABLED=false",
        "LOG_LEVEL=INFO",
        *settings,
    ):
        command += ["-s", setting]
    return command


def run_to_the_end(command: list[str], log_path: Path) -> str:
    with log_path.open("w") as log:
        done = subprocess.run(
            command,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=CRAWL_TIMEOUT,
            check=False,
        )
    text = log_path.read_text()
    assert done.returncode == 0, text
    return text


def run_and_stop(
    command: list[str], log_path: Path, db_path: Path, signum: signal.Signals
) -> tuple[int, str]:
    """Start a crawl, send it ``signum`` once it stored some tags, wait for it."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for_tags(db_path, process, STOP_AFTER_TAGS)
            process.send_signal(signum)
            returncode = process.wait(timeout=CRAWL_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return returncode, log_path.read_text()


def wait_for_tags(db_path: Path, process: subprocess.Popen[Any], count: int) -> None:
    deadline = time.monotonic() + CRAWL_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, "the crawl ended before it could be stopped"
        if stored_tags(db_path) >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"the crawl did not store {count} tags in {CRAWL_TIMEOUT:g} s")


def stored_tags(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    # Read-only, as a reporting tool would, so the poll never takes a lock
    # that could change what the crawl does.
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM tags").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the schema is not created yet
    finally:
        db.close()


def rows(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(db_path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def assert_consistent(db_path: Path) -> None:
    """Invariants that must hold after every commit, whenever the crawl died."""
    assert rows(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert rows(db_path, "PRAGMA foreign_key_check") == []
    # A repository is written before the first page of its tags is asked for.
    assert rows(
        db_path,
        "SELECT count(*) FROM tags "
        "WHERE repo_name NOT IN (SELECT full_name FROM repositories)",
    ) == [(0,)]
    # A tag and its images are written in the same transaction.
    assert rows(
        db_path,
        "SELECT count(*) FROM tags t WHERE (SELECT count(*) FROM tag_images i "
        "WHERE i.repo_name = t.repo_name AND i.tag_name = t.tag_name) != "
        f"{PLATFORMS}",
    ) == [(0,)]
    assert rows(
        db_path,
        "SELECT count(*) FROM tag_images i WHERE NOT EXISTS (SELECT 1 FROM tags t "
        "WHERE t.repo_name = i.repo_name AND t.tag_name = i.tag_name)",
    ) == [(0,)]
    # A tag list is recorded complete only with all of its tags stored.
    assert (
        rows(
            db_path,
            "SELECT c.repo_name FROM tag_list_crawls c WHERE (SELECT count(*) "
            f"FROM tags t WHERE t.repo_name = c.repo_name) != {TAGS}",
        )
        == []
    )


def assert_complete(db_path: Path) -> None:
    """Every repository and every tag, once, none marked removed."""
    assert rows(
        db_path, "SELECT count(*), count(DISTINCT full_name) FROM repositories"
    )[0] == (REPOSITORIES, REPOSITORIES)
    assert rows(
        db_path, "SELECT count(*) FROM (SELECT DISTINCT repo_name, tag_name FROM tags)"
    ) == [(REPOSITORIES * TAGS,)]
    assert rows(db_path, "SELECT count(*) FROM tags") == [(REPOSITORIES * TAGS,)]
    assert rows(db_path, "SELECT count(*) FROM tag_images") == [
        (REPOSITORIES * TAGS * PLATFORMS,)
    ]
    assert rows(db_path, "SELECT count(*) FROM tags WHERE removed_at IS NOT NULL") == [
        (0,)
    ]


def test_a_killed_crawl_leaves_a_consistent_database_that_a_rerun_completes(
    slow_hub, tmp_path
):
    db_path = tmp_path / "hub.db"
    command = crawl_command(slow_hub, db_path)

    returncode, _ = run_and_stop(
        command, tmp_path / "killed.log", db_path, signal.SIGKILL
    )

    assert returncode == -signal.SIGKILL
    assert_consistent(db_path)
    assert 0 < rows(db_path, "SELECT count(*) FROM tags")[0][0] < REPOSITORIES * TAGS
    assert rows(db_path, "SELECT id, status, finished_at FROM crawl_runs") == [
        (1, "running", None)
    ]
    # Only the removal pass at a clean close needs them, so a killed crawl
    # records no tag list as complete, even one it read to the end.
    assert rows(db_path, "SELECT count(*) FROM tag_list_crawls") == [(0,)]

    run_to_the_end(command, tmp_path / "rerun.log")

    assert rows(db_path, "SELECT id, status FROM crawl_runs ORDER BY id") == [
        (1, "interrupted"),
        (2, "finished"),
    ]
    assert_consistent(db_path)
    assert_complete(db_path)
    assert rows(db_path, "SELECT count(*) FROM tag_list_crawls WHERE run_id = 2") == [
        (REPOSITORIES,)
    ]


def test_a_paused_crawl_resumes_from_its_jobdir_without_asking_again(
    slow_hub, tmp_path
):
    db_path = tmp_path / "hub.db"
    command = crawl_command(slow_hub, db_path, f"JOBDIR={tmp_path / 'job'}")

    returncode, paused_log = run_and_stop(
        command, tmp_path / "paused.log", db_path, signal.SIGINT
    )

    assert returncode == 0, paused_log
    assert rows(db_path, "SELECT status, finish_reason FROM crawl_runs") == [
        ("interrupted", "shutdown")
    ]
    assert_consistent(db_path)
    paused_tags = rows(db_path, "SELECT count(*) FROM tags")[0][0]
    assert 0 < paused_tags < REPOSITORIES * TAGS

    resumed_log = run_to_the_end(command, tmp_path / "resumed.log")

    assert rows(db_path, "SELECT id, status FROM crawl_runs ORDER BY id") == [
        (1, "interrupted"),
        (2, "finished"),
    ]
    assert_consistent(db_path)
    assert_complete(db_path)
    # Every list was read to the end once, in one part or the other, and
    # the lists read across the pause kept the tags of their first pages.
    assert rows(
        db_path, "SELECT count(*), count(DISTINCT repo_name) FROM tag_list_crawls"
    ) == [(REPOSITORIES, REPOSITORIES)]
    spanning = rows(
        db_path,
        "SELECT count(*) FROM (SELECT repo_name FROM tags GROUP BY repo_name "
        "HAVING count(DISTINCT run_id) = 2)",
    )[0][0]
    assert spanning > 0, "the pause fell between two repositories"
    assert "Resuming the crawl that began as crawl run 1" in resumed_log
    assert (
        json.loads(rows(db_path, "SELECT stats FROM crawl_runs WHERE id = 2")[0][0])[
            "dockerhub/db/resumed_run"
        ]
        == 1
    )

    requests = slow_hub.control("GET", "/_standin/stats")["by_kind"]
    assert REPOSITORIES <= requests["detail"] <= REPOSITORIES + RESUME_MARGIN
    assert TAG_PAGES <= requests["tags"] <= TAG_PAGES + RESUME_MARGIN

    for log in (paused_log, resumed_log):
        assert "Unable to serialize" not in log
    for (text,) in rows(db_path, "SELECT stats FROM crawl_runs"):
        assert json.loads(text).get("scheduler/unserializable", 0) == 0


def test_a_new_job_records_its_first_run_in_the_jobdir(tmp_path):
    job_file = tmp_path / JOB_FILE
    assert first_run_of_job(job_file, tmp_path / "hub.db", 3) == 3
    assert first_run_of_job(job_file, tmp_path / "hub.db", 4) == 3


def test_a_jobdir_used_with_another_database_starts_a_new_job(tmp_path):
    job_file = tmp_path / JOB_FILE
    first_run_of_job(job_file, tmp_path / "old.db", 7)
    assert first_run_of_job(job_file, tmp_path / "new.db", 1) == 1
    assert first_run_of_job(job_file, tmp_path / "new.db", 2) == 1


def test_an_unreadable_job_file_starts_a_new_job_with_a_warning(tmp_path, caplog):
    job_file = tmp_path / JOB_FILE
    job_file.write_text("{not json")
    assert first_run_of_job(job_file, tmp_path / "hub.db", 5) == 5
    assert "Cannot read" in caplog.text
    assert first_run_of_job(job_file, tmp_path / "hub.db", 6) == 5


def test_tags_stored_by_the_first_run_of_a_resumed_job_are_not_removed(tmp_path):
    storage = SQLiteStorage(tmp_path / "hub.db")
    storage.open()
    try:
        older = storage.start_run("org", {})
        storage.write(Batch(tags=[tag("gone"), tag("page-2")]), older)
        paused = storage.start_run("org", {})
        storage.write(Batch(tags=[tag("page-1")]), paused)
        resumed = storage.start_run("org", {})
        storage.write(
            Batch(tags=[tag("page-2")], complete_tag_lists=["acme/web"]), resumed
        )

        assert storage.mark_removed_tags(resumed, first_run=paused) == 1
        assert storage.db.execute(
            "SELECT tag_name FROM tags WHERE removed_at IS NOT NULL"
        ).fetchall() == [("gone",)]
    finally:
        storage.close()


def tag(name: str) -> TagItem:
    return TagItem(repo_name="acme/web", tag_name=name)
