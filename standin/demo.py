"""Crawl the bundled stand-in and show what landed in SQLite.

``make demo`` (or ``python -m standin.demo``) needs no network and no Docker
Hub quota: it starts the Hub API stand-in with ``standin/data/demo.json``,
runs the real ``scrapy crawl org -a org=demo`` against it into ``demo.db``
and prints a few of the queries the README shows.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
from pathlib import Path

from standin.process import REPOSITORY_ROOT, StandIn

DEMO_DATA = REPOSITORY_ROOT / "standin" / "data" / "demo.json"

QUERIES = {
    "Repositories by pulls": (
        "SELECT full_name, pull_count, star_count FROM repositories "
        "ORDER BY pull_count DESC"
    ),
    "Tags per repository": (
        "SELECT repo_name, count(*) AS tags, sum(removed_at IS NOT NULL) AS removed "
        "FROM tags GROUP BY repo_name ORDER BY tags DESC"
    ),
    "Platforms of demo/redis:latest": (
        "SELECT os, architecture, coalesce(variant, '') AS variant, size "
        "FROM images WHERE repo_name = 'demo/redis' AND tag_name = 'latest'"
    ),
    "Crawl runs": "SELECT id, spider, status, repositories, tags FROM crawl_runs",
}


def show(db: Path) -> None:
    with sqlite3.connect(db) as connection:
        for title, sql in QUERIES.items():
            print(f"\n== {title}\n   {sql}")
            cursor = connection.execute(sql)
            names = [column[0] for column in cursor.description]
            print("   " + " | ".join(names))
            for row in cursor.fetchall():
                print("   " + " | ".join(str(value) for value in row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="demo.db", help="SQLite file to write")
    options = parser.parse_args()
    db = Path(options.db).resolve()
    with StandIn("standin.hub", "--data", str(DEMO_DATA)) as hub:
        print(f"Hub API stand-in at {hub.url}; crawling namespace 'demo' into {db}")
        command = [
            sys.executable, "-m", "scrapy", "crawl", "org", "-a", "org=demo",
            "-s", f"DOCKERHUB_HUB_URL={hub.url}",
            "-s", f"DOCKERHUB_DB={db}",
            "-s", "LOG_LEVEL=INFO",
        ]  # fmt: skip
        done = subprocess.run(command, cwd=REPOSITORY_ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(done.returncode)
    show(db)


if __name__ == "__main__":
    main()
