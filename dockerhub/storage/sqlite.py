"""SQLite storage: schema upgrades, batched upserts, crawl bookkeeping.

Writes arrive in batches; each batch is one transaction, so a crawl killed at
any moment leaves the file consistent and at most one batch short, which the
next run of the same command fills in (every write is an upsert on a natural
key).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockerhub.clock import utc_now
from dockerhub.items import (
    ImageConfigItem,
    ManifestItem,
    PendingFetchItem,
    RepositoryItem,
    TagItem,
    TagManifestItem,
)
from dockerhub.storage.schema import MIGRATIONS, SCHEMA_VERSION

logger = logging.getLogger(__name__)


class SchemaError(RuntimeError):
    """The database file cannot be used by this release."""


@dataclass
class Batch:
    """Items collected between two commits."""

    repositories: list[RepositoryItem] = field(default_factory=list)
    tags: list[TagItem] = field(default_factory=list)
    complete_tag_lists: list[str] = field(default_factory=list)
    manifests: list[ManifestItem] = field(default_factory=list)
    configs: list[ImageConfigItem] = field(default_factory=list)
    tag_manifests: list[TagManifestItem] = field(default_factory=list)
    pending: list[PendingFetchItem] = field(default_factory=list)

    def __len__(self) -> int:
        return (
            len(self.repositories)
            + len(self.tags)
            + len(self.complete_tag_lists)
            + len(self.manifests)
            + len(self.configs)
            + len(self.tag_manifests)
            + len(self.pending)
        )


# Which repository columns each source of a RepositoryItem knows; an upsert
# touches only those, so a quick crawl does not erase a thorough one's data.
_SEARCH_COLUMNS = ("description", "star_count", "pull_count", "is_automated")
_LISTING_COLUMNS = (
    "repository_type",
    "description",
    "star_count",
    "pull_count",
    "last_updated",
    "last_modified",
    "date_registered",
    "is_private",
    "status",
    "status_description",
    "storage_size",
    "affiliation",
    "media_types",
    "content_types",
    "categories",
)
_DETAIL_COLUMNS = (*_LISTING_COLUMNS, "full_description", "is_automated")
_REPOSITORY_COLUMNS = (
    "full_name",
    "namespace",
    "name",
    *_DETAIL_COLUMNS,
    "is_official",
    "first_seen_at",
    "scraped_at",
    "run_id",
)
_TAG_COLUMNS = (
    "repo_name",
    "tag_name",
    "digest",
    "media_type",
    "content_type",
    "full_size",
    "last_updated",
    "last_updater_username",
    "last_pushed",
    "last_pulled",
    "tag_status",
    "v2",
    "hub_id",
    "first_seen_at",
    "scraped_at",
    "run_id",
)
_IMAGE_COLUMNS = (
    "os",
    "architecture",
    "variant",
    "os_version",
    "digest",
    "size",
    "status",
    "last_pushed",
    "last_pulled",
    "features",
    "os_features",
)


def _upsert(table: str, columns: Sequence[str], key: str, update: Sequence[str]) -> str:
    placeholders = ", ".join("?" for _ in columns)
    assignments = ", ".join(f"{column} = excluded.{column}" for column in update)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {assignments}"
    )


def _repository_upsert(source_columns: Sequence[str]) -> str:
    update = (*source_columns, "scraped_at", "run_id")
    return _upsert("repositories", _REPOSITORY_COLUMNS, "full_name", update)


_REPOSITORY_UPSERTS = {
    "search": _repository_upsert(_SEARCH_COLUMNS),
    "listing": _repository_upsert(_LISTING_COLUMNS),
    "detail": _repository_upsert(_DETAIL_COLUMNS),
}
_TAG_UPSERT = (
    _upsert(
        "tags",
        _TAG_COLUMNS,
        "repo_name, tag_name",
        [
            c
            for c in _TAG_COLUMNS
            if c not in ("repo_name", "tag_name", "first_seen_at")
        ],
    )
    + ", removed_at = NULL"
)
_IMAGE_INSERT = (
    "INSERT INTO tag_images (repo_name, tag_name, position, "
    f"{', '.join(_IMAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in range(3 + len(_IMAGE_COLUMNS)))})"
)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class SQLiteStorage:
    """One SQLite file holding every crawl's results."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("SQLiteStorage.open() has not been called")
        return self._db

    def open(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are begun explicitly per batch.
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        # NORMAL is crash-safe under WAL; only a power cut can lose the
        # latest commits, and the next crawl fetches those again.
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("PRAGMA busy_timeout = 10000")
        # Crawls write in big batches: a 32 MiB page cache keeps the indexes'
        # upper levels in memory as tables grow, and checkpointing every
        # 16 MiB instead of 4 MiB of WAL means fewer fsyncs.  Known limit:
        # writes run on the reactor thread, so a lock held on the file by
        # another program stalls the crawl for up to busy_timeout.
        self.db.execute("PRAGMA cache_size = -32768")
        self.db.execute("PRAGMA wal_autocheckpoint = 4096")
        self.db.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"{self.path} has schema version {version}, newer than this "
                f"release understands ({SCHEMA_VERSION}); upgrade dockerhub"
            )
        if version == 0:
            logger.info(
                "Creating the tables in %(path)s (schema version %(version)d)",
                {"path": self.path, "version": SCHEMA_VERSION},
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            if version:
                logger.info(
                    "Upgrading %(path)s to schema version %(version)d",
                    {"path": self.path, "version": number},
                )
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[number - 1].split(";\n"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # -- crawl runs -------------------------------------------------------

    def start_run(self, spider: str, arguments: dict[str, Any]) -> int:
        self._close_abandoned_runs()
        cursor = self.db.execute(
            "INSERT INTO crawl_runs (spider, arguments, started_at, status, pid) "
            "VALUES (?, ?, ?, 'running', ?)",
            (spider, _json(arguments), utc_now(), os.getpid()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _close_abandoned_runs(self) -> None:
        """Mark runs whose process died without closing them (SIGKILL, power)."""
        rows = self.db.execute(
            "SELECT id, pid FROM crawl_runs WHERE status = 'running'"
        ).fetchall()
        for run_id, pid in rows:
            if pid is not None and _process_alive(pid):
                continue
            self.db.execute(
                "UPDATE crawl_runs SET status = 'interrupted' WHERE id = ?", (run_id,)
            )

    def finish_run(
        self, run_id: int, reason: str, stats: dict[str, Any], counts: dict[str, int]
    ) -> None:
        status = "finished" if reason == "finished" else "failed"
        if reason in ("shutdown", "cancelled"):
            status = "interrupted"
        self.db.execute(
            "UPDATE crawl_runs SET finished_at = ?, status = ?, finish_reason = ?, "
            "repositories = ?, tags = ?, manifest_gets = ?, quota_remaining = ?, "
            "pending_fetches = (SELECT count(*) FROM pending_fetches), stats = ? "
            "WHERE id = ?",
            (
                utc_now(),
                status,
                reason,
                counts.get("repositories", 0),
                counts.get("tags", 0),
                stats.get("dockerhub/registry/manifest_get", 0),
                stats.get("dockerhub/registry/quota_remaining"),
                json.dumps(stats, default=str, sort_keys=True),
                run_id,
            ),
        )

    # -- items ------------------------------------------------------------

    def write(self, batch: Batch, run_id: int) -> None:
        """Write one batch in a single transaction."""
        now = utc_now()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._write_repositories(batch.repositories, run_id, now)
            self._write_tags(batch.tags, run_id, now)
            self._write_manifests(batch.manifests, run_id)
            self._write_configs(batch.configs, run_id)
            self._write_tag_manifests(batch.tag_manifests, run_id)
            self.db.executemany(
                "INSERT OR REPLACE INTO pending_fetches (digest, repo_name, kind, "
                "platform, queued_at, run_id) VALUES (?, ?, 'manifest', ?, ?, ?)",
                [
                    (item.digest, item.repo_name, _json(item.platform), now, run_id)
                    for item in batch.pending
                ],
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO tag_list_crawls (repo_name, run_id, "
                "completed_at) VALUES (?, ?, ?)",
                [(name, run_id, now) for name in batch.complete_tag_lists],
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _write_repositories(
        self, items: Iterable[RepositoryItem], run_id: int, now: str
    ) -> None:
        history = []
        for item in items:
            values = _repository_values(item, run_id, now)
            self.db.execute(_REPOSITORY_UPSERTS[item.source], values)
            if item.pull_count is not None or item.star_count is not None:
                history.append(
                    (
                        item.full_name,
                        run_id,
                        item.pull_count,
                        item.star_count,
                        item.scraped_at or now,
                    )
                )
        self.db.executemany(
            "INSERT OR REPLACE INTO pull_history (repo_name, run_id, pull_count, "
            "star_count, scraped_at) VALUES (?, ?, ?, ?, ?)",
            history,
        )

    def _write_tags(self, items: Sequence[TagItem], run_id: int, now: str) -> None:
        self.db.executemany(
            _TAG_UPSERT, [_tag_values(item, run_id, now) for item in items]
        )
        self.db.executemany(
            "DELETE FROM tag_images WHERE repo_name = ? AND tag_name = ?",
            [(item.repo_name, item.tag_name) for item in items],
        )
        self.db.executemany(
            _IMAGE_INSERT,
            [
                (
                    item.repo_name,
                    item.tag_name,
                    position,
                    *(image.get(column) for column in _IMAGE_COLUMNS),
                )
                for item in items
                for position, image in enumerate(item.images)
            ],
        )

    def _write_manifests(self, items: Sequence[ManifestItem], run_id: int) -> None:
        # Content-addressed: a stored digest never needs updating.
        self.db.executemany(
            "INSERT OR IGNORE INTO manifests (digest, media_type, kind, size, os, "
            "architecture, variant, os_version, config_digest, base_name, "
            "base_digest, created, annotations, repo_name, fetched_at, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    item.digest,
                    item.media_type,
                    item.kind,
                    item.size,
                    item.os,
                    item.architecture,
                    item.variant,
                    item.os_version,
                    item.config_digest,
                    item.base_name,
                    item.base_digest,
                    item.created,
                    _json(item.annotations),
                    item.repo_name,
                    item.fetched_at,
                    run_id,
                )
                for item in items
            ],
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO manifest_layers (manifest_digest, layer_index, "
            "digest, size, media_type, urls, predicate_type) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    item.digest,
                    index,
                    layer["digest"],
                    layer.get("size"),
                    layer.get("media_type"),
                    _json(layer.get("urls") or []),
                    layer.get("predicate_type"),
                )
                for item in items
                for index, layer in enumerate(item.layers)
            ],
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO index_children (index_digest, position, digest, "
            "media_type, size, os, architecture, variant, os_version, attests) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    item.digest,
                    position,
                    child["digest"],
                    child.get("media_type"),
                    child.get("size"),
                    child.get("os"),
                    child.get("architecture"),
                    child.get("variant"),
                    child.get("os_version"),
                    child.get("attests"),
                )
                for item in items
                for position, child in enumerate(item.children)
            ],
        )
        self.db.executemany(
            "DELETE FROM pending_fetches WHERE digest = ?",
            [(item.digest,) for item in items],
        )

    def _write_configs(self, items: Sequence[ImageConfigItem], run_id: int) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO image_configs (digest, created, os, architecture, "
            "variant, os_version, env, entrypoint, cmd, labels, working_dir, user, "
            "history, diff_ids, repo_name, fetched_at, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    item.digest,
                    item.created,
                    item.os,
                    item.architecture,
                    item.variant,
                    item.os_version,
                    _json(item.env),
                    _json(item.entrypoint),
                    _json(item.cmd),
                    _json(item.labels),
                    item.working_dir,
                    item.user,
                    _json(item.history),
                    _json(item.diff_ids),
                    item.repo_name,
                    item.fetched_at,
                    run_id,
                )
                for item in items
            ],
        )
        self.db.executemany(
            "DELETE FROM pending_fetches WHERE digest = ?",
            [(item.digest,) for item in items],
        )

    def _write_tag_manifests(
        self, items: Sequence[TagManifestItem], run_id: int
    ) -> None:
        self.db.executemany(
            "INSERT INTO tag_manifests (repo_name, tag_name, digest, media_type, "
            "resolved_at, run_id) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (repo_name, tag_name) DO UPDATE SET "
            "digest = excluded.digest, media_type = excluded.media_type, "
            "resolved_at = excluded.resolved_at, run_id = excluded.run_id",
            [
                (
                    item.repo_name,
                    item.tag_name,
                    item.digest,
                    item.media_type,
                    item.resolved_at,
                    run_id,
                )
                for item in items
            ],
        )

    def pending_fetches(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Manifests earlier crawls had to leave, oldest first."""
        rows = self.db.execute(
            "SELECT digest, repo_name, platform FROM pending_fetches "
            "WHERE kind = 'manifest' ORDER BY queued_at, digest"
        ).fetchall()
        return [
            (digest, repo_name, json.loads(platform or "{}"))
            for digest, repo_name, platform in rows
        ]

    def has_digest(self, digest: str) -> bool:
        """Whether a manifest or config with this digest is stored."""
        row = self.db.execute(
            "SELECT 1 FROM manifests WHERE digest = ? "
            "UNION ALL SELECT 1 FROM image_configs WHERE digest = ? LIMIT 1",
            (digest, digest),
        ).fetchone()
        return row is not None

    def mark_removed_tags(self, run_id: int, *, first_run: int | None = None) -> int:
        """Mark tags this run did not see in repositories it read completely.

        A crawl resumed from a JOBDIR began as an earlier run, ``first_run``:
        a tag list begun before the pause has its first pages stored under
        that run, and those tags were seen too.  Returns how many tags were
        newly marked removed.
        """
        seen_since = run_id if first_run is None else min(first_run, run_id)
        self.db.execute("BEGIN IMMEDIATE")
        cursor = self.db.execute(
            "UPDATE tags SET removed_at = ? WHERE removed_at IS NULL "
            "AND (run_id IS NULL OR run_id < ?) AND repo_name IN "
            "(SELECT repo_name FROM tag_list_crawls WHERE run_id = ?)",
            (utc_now(), seen_since, run_id),
        )
        self.db.execute("COMMIT")
        return cursor.rowcount


def _repository_values(item: RepositoryItem, run_id: int, now: str) -> tuple[Any, ...]:
    row = {
        "full_name": item.full_name,
        "namespace": item.namespace,
        "name": item.name,
        "repository_type": item.repository_type,
        "description": item.description,
        "full_description": item.full_description,
        "star_count": item.star_count,
        "pull_count": item.pull_count,
        "last_updated": item.last_updated,
        "last_modified": item.last_modified,
        "date_registered": item.date_registered,
        "is_private": item.is_private,
        "is_automated": item.is_automated,
        "status": item.status,
        "status_description": item.status_description,
        "storage_size": item.storage_size,
        "affiliation": item.affiliation,
        "media_types": _json(item.media_types),
        "content_types": _json(item.content_types),
        "categories": _json(item.categories),
        "is_official": item.is_official,
        "first_seen_at": now,
        "scraped_at": item.scraped_at or now,
        "run_id": run_id,
    }
    return tuple(row[column] for column in _REPOSITORY_COLUMNS)


def _tag_values(item: TagItem, run_id: int, now: str) -> tuple[Any, ...]:
    return (
        item.repo_name,
        item.tag_name,
        item.digest,
        item.media_type,
        item.content_type,
        item.full_size,
        item.last_updated,
        item.last_updater_username,
        item.last_pushed,
        item.last_pulled,
        item.tag_status,
        item.v2,
        item.hub_id,
        now,
        item.scraped_at or now,
        run_id,
    )


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
