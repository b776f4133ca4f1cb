"""Items the spiders yield: plain dataclasses, so itemadapter, feeds and the
pipelines treat them alike and the parsing modules need no Scrapy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RepositoryItem:
    """One Docker Hub repository, from the namespace listing or its detail page.

    ``source`` says where the fields came from: ``"detail"`` (everything),
    ``"listing"`` (no ``full_description``) or ``"search"`` (counts and the
    short description only).  Storage updates only the fields the source
    carries, so a quick crawl never erases what a thorough one recorded.
    """

    full_name: str
    namespace: str
    name: str
    repository_type: str | None = None
    description: str | None = None
    full_description: str | None = None
    star_count: int | None = None
    pull_count: int | None = None
    last_updated: str | None = None
    last_modified: str | None = None
    date_registered: str | None = None
    is_official: bool = False
    is_private: bool | None = None
    is_automated: bool | None = None
    status: int | None = None
    status_description: str | None = None
    storage_size: int | None = None
    affiliation: str | None = None
    media_types: list[str] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    categories: list[Any] = field(default_factory=list)
    source: str = "detail"
    scraped_at: str = ""


@dataclass(slots=True)
class ImageItem:
    """One platform of a tag, as the Hub reports it in ``images[]``.

    Not yielded on its own: it travels inside :class:`TagItem.images`.
    """

    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    os_version: str | None = None
    digest: str | None = None
    size: int | None = None
    status: str | None = None
    last_pushed: str | None = None
    last_pulled: str | None = None
    features: str | None = None
    os_features: str | None = None


@dataclass(slots=True)
class TagItem:
    """One tag of a repository with its per-platform images.

    ``digest`` is the index (manifest list) digest for multi-platform tags and
    the manifest digest for single-platform ones; very old tags have none.
    ``images`` holds plain dicts shaped like :class:`ImageItem` so that feeds
    serialise them without a custom encoder.
    """

    repo_name: str
    tag_name: str
    digest: str | None = None
    media_type: str | None = None
    content_type: str | None = None
    full_size: int | None = None
    last_updated: str | None = None
    last_updater_username: str | None = None
    last_pushed: str | None = None
    last_pulled: str | None = None
    tag_status: str | None = None
    v2: bool | None = None
    hub_id: int | None = None
    images: list[dict[str, Any]] = field(default_factory=list)
    scraped_at: str = ""


@dataclass(slots=True)
class ManifestItem:
    """A manifest fetched from the registry, keyed by its digest.

    ``kind`` is ``index`` (multi-platform: ``children`` lists its platform
    manifests and attestations), ``image`` or ``schema1`` (``layers`` base
    first), or ``attestation``.  ``repo_name`` is where it was fetched; the
    same digest may serve many repositories.
    """

    digest: str
    media_type: str
    kind: str
    repo_name: str
    size: int | None = None
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    os_version: str | None = None
    config_digest: str | None = None
    base_name: str | None = None
    base_digest: str | None = None
    created: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)
    children: list[dict[str, Any]] = field(default_factory=list)
    fetched_at: str = ""


@dataclass(slots=True)
class ImageConfigItem:
    """An image config blob: how the image was built and how it runs."""

    digest: str
    repo_name: str
    created: str | None = None
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    os_version: str | None = None
    env: list[str] = field(default_factory=list)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    user: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    diff_ids: list[str] = field(default_factory=list)
    fetched_at: str = ""


@dataclass(slots=True)
class TagManifestItem:
    """What the registry says a tag points to, for tags the Hub gave no
    platform digests for (learnt with a HEAD, which costs no pull)."""

    repo_name: str
    tag_name: str
    digest: str
    media_type: str | None = None
    resolved_at: str = ""


@dataclass(slots=True)
class PendingFetchItem:
    """A manifest GET this crawl had to leave (pull quota or budget); the
    next crawl with registry data on fetches it first."""

    digest: str
    repo_name: str
    platform: dict[str, Any] = field(default_factory=dict)
