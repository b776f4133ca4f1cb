"""Fixtures that start the local stand-ins and run real ``scrapy crawl``s."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from standin.process import StandIn
from standin.registry.distribution import LocalRegistry
from standin.registry.fake import FakeRegistry
from standin.registry.fake_data import fixture_data
from standin.registry.push import push_fixture

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def hub_server() -> Iterator[StandIn]:
    with StandIn("standin.hub") as server:
        yield server


@pytest.fixture
def hub(hub_server: StandIn) -> StandIn:
    """The Hub stand-in with an empty world, no faults and fresh counters."""
    hub_server.control("PUT", "/_standin/world", {"repositories": []})
    hub_server.control("PUT", "/_standin/faults", [])
    hub_server.control("PUT", "/_standin/ratelimit", {"limit": None})
    hub_server.control("POST", "/_standin/stats/reset")
    return hub_server


@dataclass
class Crawl:
    """What one ``scrapy crawl`` run left behind."""

    returncode: int
    log: str
    db_path: Path

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path) as db:
            return db.execute(sql, params).fetchall()

    def stats(self) -> dict[str, Any]:
        """Scrapy's stats of the latest crawl run, as the pipeline stored them."""
        [(text,)] = self.rows("SELECT stats FROM crawl_runs ORDER BY id DESC LIMIT 1")
        return json.loads(text)  # type: ignore[no-any-return]


@pytest.fixture
def crawl(tmp_path: Path, hub_server: StandIn):
    """Run ``scrapy crawl SPIDER -a ...`` against the stand-ins."""

    def run(
        spider: str,
        *arguments: str,
        settings: dict[str, Any] | None = None,
        db: Path | None = None,
        extra: tuple[str, ...] = (),
        timeout: float = 120,
    ) -> Crawl:
        db_path = db or tmp_path / "hub.db"
        merged = {
            "DOCKERHUB_HUB_URL": hub_server.url,
            "DOCKERHUB_DB": str(db_path),
            "AUTOTHROTTLE_ENABLED": "false",
            "LOG_LEVEL": "INFO",
            **(settings or {}),
        }
        command = [sys.executable, "-m", "scrapy", "crawl", spider]
        for argument in arguments:
            command += ["-a", argument]
        for name, value in merged.items():
            command += ["-s", f"{name}={value}"]
        command += list(extra)
        done = subprocess.run(
            command,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Crawl(done.returncode, done.stdout + done.stderr, db_path)

    return run


@pytest.fixture(scope="session")
def registry() -> Iterator[Any]:
    """The real CNCF distribution registry behind a JWT token service, with
    the standard test images pushed through its HTTP API."""
    with LocalRegistry() as local:
        local.pushed = push_fixture(local)
        yield local


@pytest.fixture
def fake_registry() -> Iterator[Any]:
    """A registry-1.docker.io imitation: schema 1, CDN redirects, quotas."""
    with FakeRegistry(fixture_data()) as fake:
        yield fake
