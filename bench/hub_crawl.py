"""Hub crawl throughput: tags per second, CPU per tag, requests, memory.

Against the local stand-in with no rate limit:

* one repository with many tags (20,000 by default, and smaller sizes first
  to show whether peak memory stays flat as the tag count grows);
* an org of 1,000 repositories with a few tags each, details on.

Targets (issue 2): >= 5,000 tags/s; < 0.2 CPU ms per tag; peak memory under
300 MB and flat; Hub requests within 5% of the minimum.

Usage: ``python -m bench.hub_crawl [--tags 20000] [--repos 1000]``
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import tempfile
from pathlib import Path

from bench.common import Measured, run_crawl
from standin.process import StandIn

SETTINGS = {
    "AUTOTHROTTLE_ENABLED": "false",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "LOG_LEVEL": "WARNING",
}


def count_tags(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute("SELECT count(*) FROM tags").fetchone()[0])


def report(
    title: str,
    measured: Measured,
    tags: int,
    requests: int,
    minimum: int,
    repositories: int,
    baseline: Measured,
) -> None:
    if measured.returncode != 0:
        print(measured.log[-3000:])
        raise SystemExit(f"{title}: crawl failed with exit {measured.returncode}")
    print(f"\n{title}")
    print(f"  tags stored          {tags:>10,}")
    print(f"  wall time            {measured.wall_seconds:>10.2f} s")
    wall = measured.wall_seconds - baseline.wall_seconds
    cpu = measured.cpu_seconds - baseline.cpu_seconds
    print(f"  tags per second      {tags / measured.wall_seconds:>10,.0f}")
    print(f"  tags per second      {tags / wall:>10,.0f}  (no start-up)")
    print(
        f"  CPU ms per tag       {1000 * measured.cpu_seconds / max(tags, 1):>10.3f}"
        "  (crawler process, start-up included)"
    )
    print(f"  CPU ms per tag       {1000 * cpu / max(tags, 1):>10.3f}  (no start-up)")
    print(f"  peak memory          {measured.peak_rss_mb:>10.1f} MB")
    print(
        f"  Hub requests         {requests:>10,}  (minimum {minimum:,}, "
        f"+{100 * (requests - minimum) / minimum:.1f}%)"
    )
    print(f"  requests/repository  {requests / repositories:>10.2f}")


def empty_crawl(workdir: Path) -> Measured:
    """Start-up and shut-down alone: a crawl of a namespace with nothing in it."""
    with StandIn("standin.hub") as hub:
        measured = run_crawl(
            "org",
            ["org=nothing"],
            {
                **SETTINGS,
                "DOCKERHUB_HUB_URL": hub.url,
                "DOCKERHUB_DB": str(workdir / "empty.db"),
            },
        )
    print(
        f"start-up baseline: {measured.wall_seconds:.2f} s wall, "
        f"{measured.cpu_seconds:.2f} s CPU, {measured.peak_rss_mb:.1f} MB"
    )
    return measured


def big_repository(tags: int, workdir: Path, baseline: Measured) -> None:
    with StandIn("standin.hub", "--synthetic-repo", f"big/many:{tags}") as hub:
        db = workdir / f"big-{tags}.db"
        measured = run_crawl(
            "repo",
            ["repos=big/many"],
            {**SETTINGS, "DOCKERHUB_HUB_URL": hub.url, "DOCKERHUB_DB": str(db)},
        )
        stats = hub.control("GET", "/_standin/stats")
        assert isinstance(stats, dict)
        minimum = 1 + math.ceil(tags / 100)
        report(
            f"one repository, {tags:,} tags",
            measured,
            count_tags(db),
            int(stats["requests"]),
            minimum,
            1,
            baseline,
        )


def big_org(repositories: int, tags: int, workdir: Path, baseline: Measured) -> None:
    spec = f"bench:{repositories}:{tags}"
    with StandIn("standin.hub", "--synthetic-org", spec) as hub:
        db = workdir / "org.db"
        measured = run_crawl(
            "org",
            ["org=bench"],
            {**SETTINGS, "DOCKERHUB_HUB_URL": hub.url, "DOCKERHUB_DB": str(db)},
        )
        stats = hub.control("GET", "/_standin/stats")
        assert isinstance(stats, dict)
        per_repository = 1 + math.ceil(tags / 100)  # detail + tag pages
        minimum = math.ceil(repositories / 100) + repositories * per_repository
        report(
            f"org of {repositories:,} repositories x {tags} tags, details on",
            measured,
            count_tags(db),
            int(stats["requests"]),
            minimum,
            repositories,
            baseline,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=20_000)
    parser.add_argument("--repos", type=int, default=1_000)
    parser.add_argument("--repo-tags", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        baseline = empty_crawl(workdir)
        for size in sorted({options.tags // 4, options.tags, options.tags * 4}):
            big_repository(size, workdir, baseline)
        big_org(options.repos, options.repo_tags, workdir, baseline)


if __name__ == "__main__":
    main()
