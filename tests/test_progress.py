"""Progress lines: the arithmetic on its own, then in real crawls."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from dockerhub.progress import (
    Progress,
    format_duration,
    progress_message,
    summary_message,
    time_left,
)
from standin.process import StandIn

NAMESPACE = "prog"
REPOSITORIES = 20
TAGS = 150

PROGRESS_LINE = re.compile(
    r"Progress: (?P<done>\d+)(?:/(?P<expected>\d+) \((?P<percent>\d+)%\))? "
    r"repositories, (?P<tags>\d+) tags, (?P<waiting>\d+) requests waiting, "
    r"registry quota (?P<quota>n/a|\d+), (?P<left>.+)$",
    re.MULTILINE,
)


def rendered(message: tuple[str, dict[str, object]]) -> str:
    template, arguments = message
    return template % arguments


# -- the arithmetic ---------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "done", "expected", "left"),
    [
        (10.0, 5, 20, 30.0),
        (60.0, 30, 40, 20.0),
        (10.0, 20, 20, 0.0),
        (10.0, 25, 20, 0.0),  # the listing grew while it was paged
        (10.0, 0, 20, None),  # no rate yet
        (10.0, 5, None, None),  # no total to reach
        (0.0, 5, 20, None),
    ],
)
def test_time_left_extrapolates_the_rate_of_repositories_so_far(
    elapsed, done, expected, left
):
    progress = Progress(
        elapsed=elapsed,
        repositories=done,
        tags=0,
        waiting=0,
        repositories_expected=expected,
    )
    assert time_left(progress) == left


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-3, "0s"),
        (44.6, "45s"),
        (59.6, "1m00s"),
        (185, "3m05s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (7620, "2h07m"),
        (90000, "25h00m"),
    ],
)
def test_durations_read_as_seconds_minutes_or_hours(seconds, text):
    assert format_duration(seconds) == text


def test_a_progress_line_with_a_known_total_gives_share_and_time_left():
    progress = Progress(
        elapsed=120.0,
        repositories=30,
        tags=4500,
        waiting=17,
        quota_remaining=88,
        repositories_expected=120,
    )
    assert rendered(progress_message(progress)) == (
        "Progress: 30/120 (25%) repositories, 4500 tags, 17 requests waiting, "
        "registry quota 88, about 6m00s left"
    )


def test_a_progress_line_without_a_total_or_quota_says_so():
    progress = Progress(elapsed=5.0, repositories=3, tags=10, waiting=2)
    assert rendered(progress_message(progress)) == (
        "Progress: 3 repositories, 10 tags, 2 requests waiting, "
        "registry quota n/a, time left unknown"
    )


def test_once_every_repository_is_begun_only_tag_pages_remain():
    progress = Progress(
        elapsed=50.0, repositories=62, tags=9000, waiting=4, repositories_expected=60
    )
    line = rendered(progress_message(progress))
    assert "62/60 (100%) repositories" in line
    assert line.endswith("finishing the last tag pages")


def test_an_empty_namespace_counts_as_complete():
    progress = Progress(
        elapsed=1.0, repositories=0, tags=0, waiting=0, repositories_expected=0
    )
    assert "0/0 (100%) repositories" in rendered(progress_message(progress))


def test_the_summary_gives_reason_duration_totals_and_rates():
    progress = Progress(
        elapsed=125.0,
        repositories=250,
        tags=50000,
        waiting=0,
        repositories_expected=250,
    )
    assert rendered(summary_message(progress, "finished")) == (
        "Crawl closed (finished) after 2m05s: 250/250 (100%) repositories, "
        "50000 tags (2.0 repositories/s, 400 tags/s), registry quota n/a"
    )


def test_a_summary_at_once_does_not_divide_by_zero():
    progress = Progress(elapsed=0.0, repositories=0, tags=0, waiting=0)
    assert "(no time elapsed)" in rendered(summary_message(progress, "shutdown"))


# -- in real crawls ---------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_hub() -> Iterator[StandIn]:
    spec = f"{NAMESPACE}:{REPOSITORIES}:{TAGS}"
    with StandIn("standin.hub", "--synthetic-org", spec) as server:
        yield server


@pytest.fixture
def slow_hub(synthetic_hub: StandIn) -> StandIn:
    # About 40 tag pages at 0.3 s, 8 at a time: a crawl of a few seconds.
    synthetic_hub.control(
        "PUT",
        "/_standin/faults",
        [{"match": r"/tags\?", "action": "delay", "seconds": 0.3, "times": None}],
    )
    return synthetic_hub


def progress_settings(hub: StandIn, interval: str = "0.5") -> dict[str, str]:
    return {"DOCKERHUB_HUB_URL": hub.url, "DOCKERHUB_PROGRESS_INTERVAL": interval}


def test_an_org_crawl_logs_progress_with_the_namespace_size(slow_hub, crawl):
    result = crawl("org", f"org={NAMESPACE}", settings=progress_settings(slow_hub))
    assert result.returncode == 0, result.log

    lines = list(PROGRESS_LINE.finditer(result.log))
    assert len(lines) >= 3, result.log
    assert result.stats()["dockerhub/progress/lines"] == len(lines)
    done = [int(line["done"]) for line in lines]
    tags = [int(line["tags"]) for line in lines]
    assert done == sorted(done)
    assert tags == sorted(tags)
    assert all(n <= REPOSITORIES for n in done)
    assert all(n <= REPOSITORIES * TAGS for n in tags)
    # Never more than the crawl's requests: a listing page, the details and
    # two tag pages per repository.
    requests = 1 + REPOSITORIES + 2 * REPOSITORIES
    assert all(0 <= int(line["waiting"]) <= requests for line in lines)
    assert any(int(line["waiting"]) > 0 for line in lines)
    assert all(line["quota"] == "n/a" for line in lines)
    known = [line for line in lines if line["expected"] is not None]
    assert known, "no line knew the namespace size"
    assert all(int(line["expected"]) == REPOSITORIES for line in known)
    assert any(re.fullmatch(r"about \d+s left", line["left"]) for line in known)

    assert re.search(
        rf"Crawl closed \(finished\) after \d+s: {REPOSITORIES}/{REPOSITORIES} "
        rf"\(100%\) repositories, {REPOSITORIES * TAGS} tags",
        result.log,
    )


def test_a_search_crawl_takes_its_total_from_the_search_count(synthetic_hub, crawl):
    synthetic_hub.control("PUT", "/_standin/faults", [])
    # Every synthetic repository is described "... for benchmarks".
    result = crawl(
        "search",
        "query=benchmarks",
        "max_pages=1",
        settings={**progress_settings(synthetic_hub), "DOCKERHUB_PAGE_SIZE": "5"},
    )
    assert result.returncode == 0, result.log

    assert result.stats()["dockerhub/search/results"] == REPOSITORIES
    # One page of five results is all that max_pages=1 lets the crawl reach.
    lines = list(PROGRESS_LINE.finditer(result.log))
    assert {line["expected"] for line in lines} <= {"5", None}
    assert "Crawl closed (finished) after" in result.log
    assert "5/5 (100%) repositories, 750 tags" in result.log


def test_a_zero_interval_turns_progress_lines_off(hub, crawl):
    result = crawl("org", "org=nobody", settings={"DOCKERHUB_PROGRESS_INTERVAL": 0})
    assert result.returncode == 0, result.log
    assert "Progress:" not in result.log
    assert "Crawl closed" not in result.log


def test_a_negative_interval_is_refused_at_start(hub, crawl):
    result = crawl("org", "org=nobody", settings={"DOCKERHUB_PROGRESS_INTERVAL": -1})
    assert result.returncode == 2
    assert "DOCKERHUB_PROGRESS_INTERVAL='-1' is invalid" in result.log
