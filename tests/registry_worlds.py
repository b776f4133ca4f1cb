"""Hub worlds whose tags point at what the registry stand-ins hold."""

from __future__ import annotations

from typing import Any

from tests import worlds


def hub_world_from_push(
    pushed: dict[str, Any], *, hide_digests: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """Every pushed repository and tag, with the Hub's per-platform digests.

    Tags of repositories in ``hide_digests`` come without any digest, like
    old tags on the real Hub, so the crawler must ask the registry.
    """
    repositories = []
    for name, content in pushed["repositories"].items():
        namespace, short = name.split("/")
        tags = []
        for tag_name, top in content["tags"].items():
            # Every tag of a fixture repository names the same content.
            platforms = content["platforms"]
            images = [
                {
                    "architecture": p["architecture"],
                    "features": "",
                    "variant": p["variant"],
                    "digest": p["manifest_digest"],
                    "os": p["os"],
                    "os_features": "",
                    "os_version": None,
                    "size": sum(layer["size"] for layer in p["layers"]),
                    "status": "active",
                    "last_pulled": None,
                    "last_pushed": "2026-11-01T10:00:00Z",
                }
                for p in platforms
            ]
            entry = worlds.tag(name, tag_name, platforms=())
            entry["images"] = images
            entry["media_type"] = top["media_type"]
            if len(images) > 1:
                entry["digest"] = top["digest"]
            if name in hide_digests:
                entry["images"] = []
                entry.pop("digest", None)
            tags.append(entry)
        repositories.append(worlds.repository(namespace, short, tags))
    return worlds.world(*repositories)


def hub_world_for_fake() -> dict[str, Any]:
    """The fake registry's repositories as old Hub tags with no digests."""
    names = {
        "legacy/old": ["1"],
        "win/servercore": ["ltsc"],
        "library/hello": ["latest"],
    }
    repositories = []
    for name, tag_names in names.items():
        namespace, short = name.split("/")
        tags = [worlds.old_tag(tag) | {"v2": True} for tag in tag_names]
        repositories.append(worlds.repository(namespace, short, tags))
    return worlds.world(*repositories)
