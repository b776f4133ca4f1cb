"""Builders of Hub-shaped test data for the stand-in's world files."""

from __future__ import annotations

import hashlib
from typing import Any

DETAIL_ONLY = {"full_description", "user", "is_automated", "collaborator_count"}


def digest(*parts: object) -> str:
    text = "/".join(str(part) for part in parts)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def repository(
    namespace: str, name: str, tags: list[dict[str, Any]] | None = None, **fields: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "user": namespace,
        "name": name,
        "namespace": namespace,
        "repository_type": "image",
        "status": 1,
        "status_description": "active",
        "description": f"The {name} image",
        "is_private": False,
        "is_automated": False,
        "star_count": 7,
        "pull_count": 1000,
        "last_updated": "2026-11-01T10:00:00.123456Z",
        "last_modified": "2026-11-01T10:00:00.123456Z",
        "date_registered": "2020-01-01T00:00:00.000000Z",
        "collaborator_count": 0,
        "affiliation": None,
        "hub_user": namespace,
        "has_starred": False,
        "full_description": f"# {name}\n\nLong description.",
        "permissions": {"read": True, "write": False, "admin": False},
        "media_types": ["application/vnd.oci.image.index.v1+json"],
        "content_types": ["image"],
        "categories": [],
        "immutable_tags_settings": {"enabled": False, "rules": [".*"]},
        "storage_size": 123456789,
        "source": None,
    }
    entry.update(fields)
    entry["tags"] = tags or []
    return entry


def tag(
    repo: str,
    name: str,
    platforms: tuple[str, ...] = ("linux/amd64", "linux/arm64/v8"),
    **fields: Any,
) -> dict[str, Any]:
    images: list[dict[str, Any]] = []
    for platform in platforms:
        os_name, architecture, *variant = platform.split("/")
        images.append(
            {
                "architecture": architecture,
                "features": "",
                "variant": variant[0] if variant else None,
                "digest": digest(repo, name, platform),
                "os": os_name,
                "os_features": "",
                "os_version": None,
                "size": 1000 + len(images),
                "status": "active",
                "last_pulled": "2026-11-30T12:00:00.123456789Z",
                "last_pushed": "2026-11-01T10:00:00Z",
            }
        )
    entry: dict[str, Any] = {
        "creator": 1,
        "id": int(hashlib.sha256(f"{repo}:{name}".encode()).hexdigest()[:8], 16),
        "images": images,
        "last_updated": "2026-11-01T10:00:00.123456Z",
        "last_updater": 1,
        "last_updater_username": "builder",
        "name": name,
        "repository": 1,
        "full_size": sum(image["size"] for image in images),
        "v2": True,
        "tag_status": "active",
        "tag_last_pulled": "2026-11-30T12:00:00.123456789Z",
        "tag_last_pushed": "2026-11-01T10:00:00.123456Z",
        "media_type": "application/vnd.oci.image.index.v1+json",
        "content_type": "image",
    }
    if len(platforms) > 1:
        entry["digest"] = digest(repo, name, "index")
    entry.update(fields)
    return entry


def old_tag(name: str) -> dict[str, Any]:
    """A pre-2018 tag: no digest, no images, size 0."""
    return {
        "creator": 1,
        "id": 42,
        "images": [],
        "last_updated": "2016-01-01T00:00:00Z",
        "last_updater": 1,
        "last_updater_username": "old",
        "name": name,
        "repository": 1,
        "full_size": 0,
        "v2": False,
        "tag_status": "inactive",
        "tag_last_pulled": None,
        "tag_last_pushed": None,
        "media_type": None,
        "content_type": "image",
    }


def world(*repositories: dict[str, Any]) -> dict[str, Any]:
    return {"repositories": list(repositories)}
