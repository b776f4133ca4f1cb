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

# Registry data (issue: layers, manifests, configs).  Manifests, layers and
# configs are keyed by digest: what a digest names never changes, so each is
# stored once however many tags and repositories share it.
V2 = """
ALTER TABLE crawl_runs ADD COLUMN manifest_gets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE crawl_runs ADD COLUMN quota_remaining INTEGER;
ALTER TABLE crawl_runs ADD COLUMN pending_fetches INTEGER NOT NULL DEFAULT 0;

CREATE TABLE manifests (
    digest TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    kind TEXT NOT NULL,                 -- index | image | schema1 | attestation
    size INTEGER,
    os TEXT,
    architecture TEXT,
    variant TEXT,
    os_version TEXT,
    config_digest TEXT,
    base_name TEXT,                     -- org.opencontainers.image.base.name
    base_digest TEXT,                   -- org.opencontainers.image.base.digest
    created TEXT,                       -- schema 1 only; others: image_configs
    annotations TEXT,                   -- JSON object
    repo_name TEXT NOT NULL,            -- where it was first fetched
    fetched_at TEXT NOT NULL,
    run_id INTEGER REFERENCES crawl_runs(id)
);

-- Layers of an image manifest, base layer first (layer_index 0).
CREATE TABLE manifest_layers (
    manifest_digest TEXT NOT NULL,
    layer_index INTEGER NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER,
    media_type TEXT,
    urls TEXT,                          -- JSON array; Windows foreign layers
    predicate_type TEXT,                -- attestation layers: in-toto predicate
    PRIMARY KEY (manifest_digest, layer_index)
) WITHOUT ROWID;
CREATE INDEX manifest_layers_digest ON manifest_layers(digest);

-- Entries of an index: platform manifests, and attestations, whose
-- "attests" names the manifest they describe.
CREATE TABLE index_children (
    index_digest TEXT NOT NULL,
    position INTEGER NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT,
    size INTEGER,
    os TEXT,
    architecture TEXT,
    variant TEXT,
    os_version TEXT,
    attests TEXT,
    PRIMARY KEY (index_digest, position)
) WITHOUT ROWID;
CREATE INDEX index_children_digest ON index_children(digest);
CREATE INDEX index_children_attests ON index_children(attests);

CREATE TABLE image_configs (
    digest TEXT PRIMARY KEY,
    created TEXT,
    os TEXT,
    architecture TEXT,
    variant TEXT,
    os_version TEXT,
    env TEXT,                           -- JSON array
    entrypoint TEXT,                    -- JSON array or null
    cmd TEXT,                           -- JSON array or null
    labels TEXT,                        -- JSON object
    working_dir TEXT,
    user TEXT,
    history TEXT,                       -- JSON array of {created, created_by, ...}
    diff_ids TEXT,                      -- JSON array
    repo_name TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    run_id INTEGER REFERENCES crawl_runs(id)
);

-- What the registry says a tag points to, for tags the Hub named no
-- platform digest for.
CREATE TABLE tag_manifests (
    repo_name TEXT NOT NULL,
    tag_name TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT,
    resolved_at TEXT NOT NULL,
    run_id INTEGER REFERENCES crawl_runs(id),
    PRIMARY KEY (repo_name, tag_name)
) WITHOUT ROWID;

-- Registry fetches a crawl had to leave (pull quota reached); the next crawl
-- takes them first.
CREATE TABLE pending_fetches (
    digest TEXT PRIMARY KEY,
    repo_name TEXT NOT NULL,
    kind TEXT NOT NULL,                 -- manifest | config
    platform TEXT,                      -- JSON object
    queued_at TEXT NOT NULL,
    run_id INTEGER REFERENCES crawl_runs(id)
);

DROP VIEW images;

CREATE VIEW images AS
WITH platform_rows AS (
    SELECT ti.repo_name, ti.tag_name, ti.position, ti.os, ti.architecture,
           ti.variant, ti.os_version, ti.digest, ti.size, ti.status,
           ti.last_pushed, ti.last_pulled, ti.features, ti.os_features,
           'hub' AS source
    FROM tag_images ti
    WHERE ti.digest IS NOT NULL OR NOT EXISTS (
        SELECT 1 FROM tag_manifests tm
        WHERE tm.repo_name = ti.repo_name AND tm.tag_name = ti.tag_name)
    UNION ALL
    SELECT tm.repo_name, tm.tag_name, coalesce(ch.position, 0),
           coalesce(ch.os, m.os), coalesce(ch.architecture, m.architecture),
           coalesce(ch.variant, m.variant), coalesce(ch.os_version, m.os_version),
           coalesce(ch.digest, tm.digest), NULL, NULL, NULL, NULL, NULL, NULL,
           'registry'
    FROM tag_manifests tm
    LEFT JOIN manifests m ON m.digest = tm.digest
    LEFT JOIN index_children ch ON ch.index_digest = tm.digest AND ch.attests IS NULL
    WHERE NOT EXISTS (
        SELECT 1 FROM tag_images ti
        WHERE ti.repo_name = tm.repo_name AND ti.tag_name = tm.tag_name
          AND ti.digest IS NOT NULL)
)
SELECT p.*,
       m.media_type AS manifest_media_type,
       m.config_digest,
       coalesce(c.created, m.created) AS created,
       m.base_name,
       m.base_digest,
       CASE
           WHEN EXISTS (
               SELECT 1 FROM index_children a
               JOIN manifest_layers l ON l.manifest_digest = a.digest
               WHERE a.attests = p.digest
                 AND (l.predicate_type LIKE 'https://spdx.dev/%'
                      OR l.predicate_type LIKE 'https://cyclonedx.org/%'))
           THEN 1
           WHEN EXISTS (
               SELECT 1 FROM index_children a JOIN manifests am ON am.digest = a.digest
               WHERE a.attests = p.digest)
             OR (EXISTS (SELECT 1 FROM index_children c2 WHERE c2.digest = p.digest)
                 AND NOT EXISTS (
                     SELECT 1 FROM index_children a WHERE a.attests = p.digest))
           THEN 0
       END AS has_sbom,
       CASE
           WHEN EXISTS (
               SELECT 1 FROM index_children a
               JOIN manifest_layers l ON l.manifest_digest = a.digest
               WHERE a.attests = p.digest
                 AND l.predicate_type LIKE 'https://slsa.dev/provenance/%')
           THEN 1
           WHEN EXISTS (
               SELECT 1 FROM index_children a JOIN manifests am ON am.digest = a.digest
               WHERE a.attests = p.digest)
             OR (EXISTS (SELECT 1 FROM index_children c2 WHERE c2.digest = p.digest)
                 AND NOT EXISTS (
                     SELECT 1 FROM index_children a WHERE a.attests = p.digest))
           THEN 0
       END AS has_provenance
FROM platform_rows p
LEFT JOIN manifests m ON m.digest = p.digest
LEFT JOIN image_configs c ON c.digest = m.config_digest;

CREATE VIEW image_layers AS
SELECT i.repo_name, i.tag_name, i.os, i.architecture, i.variant,
       l.layer_index, l.digest, l.size AS size_bytes, l.media_type
FROM images i
JOIN manifest_layers l ON l.manifest_digest = i.digest;
"""

MIGRATIONS: list[str] = [V1, V2]
SCHEMA_VERSION = len(MIGRATIONS)
