"""The SQLite schema and its migrations.

``PRAGMA user_version`` holds the schema version.  Each entry of
:data:`MIGRATIONS` takes a database from the version before it to its own
number, so a user's existing file is upgraded in place by a later release.
Never edit a migration that has been released; add a new one.
"""

from __future__ import annotations

V1 = """
CREATE TABLE crawl_runs (
    id INTEGER PRIMARY KEY,
    spider TEXT NOT NULL,
    arguments TEXT NOT NULL,            -- JSON object of the -a arguments
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,               -- running | finished | interrupted | ...
    finish_reason TEXT,
    pid INTEGER,
    repositories INTEGER NOT NULL DEFAULT 0,
    tags INTEGER NOT NULL DEFAULT 0,
    stats TEXT                          -- JSON of Scrapy's stats at the end
);

CREATE TABLE repositories (
    id INTEGER PRIMARY KEY,
    full_name TEXT NOT NULL UNIQUE,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    repository_type TEXT,
    description TEXT,
    full_description TEXT,
    star_count INTEGER,
    pull_count INTEGER,
    last_updated TEXT,
    last_modified TEXT,
    date_registered TEXT,
    is_official INTEGER NOT NULL DEFAULT 0,
    is_private INTEGER,
    is_automated INTEGER,
    status INTEGER,
    status_description TEXT,
    storage_size INTEGER,
    affiliation TEXT,
    media_types TEXT,                   -- JSON array
    content_types TEXT,                 -- JSON array
    categories TEXT,                    -- JSON array
    first_seen_at TEXT NOT NULL,
    scraped_at TEXT NOT NULL,
    run_id INTEGER REFERENCES crawl_runs(id)
);
CREATE INDEX repositories_namespace ON repositories(namespace);

CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    repo_name TEXT NOT NULL,
    tag_name TEXT NOT NULL,
    digest TEXT,
    media_type TEXT,
    content_type TEXT,
    full_size INTEGER,
    last_updated TEXT,
    last_updater_username TEXT,
    last_pushed TEXT,
    last_pulled TEXT,
    tag_status TEXT,
    v2 INTEGER,
    hub_id INTEGER,
    first_seen_at TEXT NOT NULL,
    scraped_at TEXT NOT NULL,
    run_id INTEGER REFERENCES crawl_runs(id),
    removed_at TEXT,                    -- set when a complete crawl no longer saw it
    UNIQUE (repo_name, tag_name)
);
CREATE INDEX tags_digest ON tags(digest);

-- The Hub's images[] of a tag, in the Hub's order; replaced on every crawl
-- of the tag.  Read it through the view "images".
CREATE TABLE tag_images (
    repo_name TEXT NOT NULL,
    tag_name TEXT NOT NULL,
    position INTEGER NOT NULL,
    os TEXT,
    architecture TEXT,
    variant TEXT,
    os_version TEXT,
    digest TEXT,
    size INTEGER,
    status TEXT,
    last_pushed TEXT,
    last_pulled TEXT,
    features TEXT,
    os_features TEXT,
    PRIMARY KEY (repo_name, tag_name, position)
) WITHOUT ROWID;
CREATE INDEX tag_images_digest ON tag_images(digest);

CREATE VIEW images AS
SELECT repo_name, tag_name, position, os, architecture, variant, os_version,
       digest, size, status, last_pushed, last_pulled, features, os_features
FROM tag_images;

CREATE TABLE pull_history (
    repo_name TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES crawl_runs(id),
    pull_count INTEGER,
    star_count INTEGER,
    scraped_at TEXT NOT NULL,
    PRIMARY KEY (repo_name, run_id)
) WITHOUT ROWID;

-- One row per repository whose tag list a crawl read to the end; the tags
-- such a crawl did not see are the ones marked removed.
CREATE TABLE tag_list_crawls (
    repo_name TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES crawl_runs(id),
    completed_at TEXT NOT NULL,
    PRIMARY KEY (repo_name, run_id)
) WITHOUT ROWID;
"""

MIGRATIONS: list[str] = [V1]
SCHEMA_VERSION = len(MIGRATIONS)
