"""Manifest GETs per platform layer list, on an org where tags share digests.

Pushes the standard test images to a local CNCF distribution registry,
serves a Hub namespace in which every repository has many tags pointing at
the same few manifests, crawls it twice with ``layers=true`` and prints:

* manifest GETs against the number of distinct platform manifests
  (target: exactly one GET each);
* platform layer lists stored (tags x platforms), and GETs per layer list;
* manifest GETs of the second, unchanged crawl (target: zero).

Usage: ``python -m bench.registry_pulls [--tags-per-repository 50]``
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from bench.common import run_crawl
from standin.process import StandIn
from standin.registry.distribution import LocalRegistry
from standin.registry.push import push_fixture
from tests.registry_worlds import hub_world_from_push

SETTINGS = {"AUTOTHROTTLE_ENABLED": "false", "LOG_LEVEL": "WARNING"}


def many_tags(world: dict[str, Any], copies: int) -> dict[str, Any]:
    """Give every repository ``copies`` tags per pushed tag, same digests."""
    for repository in world["repositories"]:
        tags = []
        for tag in repository["tags"]:
            for number in range(copies):
                tags.append({**tag, "name": f"{tag['name']}-{number}"})
        repository["tags"] = tags
    return world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags-per-repository", type=int, default=50)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalRegistry() as registry:
        pushed = push_fixture(registry)
        world = many_tags(hub_world_from_push(pushed), options.tags_per_repository)
        distinct = {
            platform["manifest_digest"]
            for content in pushed["repositories"].values()
            for platform in content["platforms"]
        }
        db = Path(tmp) / "pulls.db"
        with StandIn("standin.hub") as hub:
            hub.control("PUT", "/_standin/world", world)
            settings = {
                **SETTINGS,
                "DOCKERHUB_HUB_URL": hub.url,
                "DOCKERHUB_REGISTRY_URL": registry.registry_url,
                "DOCKERHUB_AUTH_URL": registry.auth_url,
                "DOCKERHUB_DB": str(db),
            }
            for attempt in ("first crawl", "unchanged re-crawl"):
                measured = run_crawl("org", ["org=testorg", "layers=true"], settings)
                if measured.returncode != 0:
                    raise SystemExit(measured.log[-3000:])
                with sqlite3.connect(db) as connection:
                    gets, tags = connection.execute(
                        "SELECT manifest_gets, tags FROM crawl_runs "
                        "ORDER BY id DESC LIMIT 1"
                    ).fetchone()
                    layer_lists = connection.execute(
                        "SELECT count(*) FROM (SELECT DISTINCT repo_name, tag_name, "
                        "os, architecture, variant FROM image_layers)"
                    ).fetchone()[0]
                print(f"\n{attempt}")
                print(f"  tags crawled                     {tags:>8,}")
                print(f"  platform layer lists stored      {layer_lists:>8,}")
                print(f"  distinct platform manifests      {len(distinct):>8,}")
                print(f"  manifest GETs                    {gets:>8,}")
                print(f"  GETs per platform layer list     {gets / layer_lists:>8.4f}")
                print(
                    f"  GETs per distinct manifest       {gets / len(distinct):>8.2f}"
                )
                print(
                    f"  wall time (s)                    {measured.wall_seconds:>8.2f}"
                )


if __name__ == "__main__":
    main()
