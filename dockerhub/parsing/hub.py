"""Turn Hub API answers into items.

The Hub's JSON is loose: fields go missing, turn ``null``, or change type
(``v2`` is documented as a string but is a boolean).  Every reader here
accepts what the Hub really sends and keeps ``None`` where a value is absent
or of the wrong type, rather than guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dockerhub.items import RepositoryItem, TagItem
from dockerhub.names import OFFICIAL_NAMESPACE, official_full_name
from dockerhub.parsing.values import as_bool, as_int, as_list, as_str, as_str_list


class HubFormatError(ValueError):
    """An answer that is not the JSON shape the Hub API documents."""


@dataclass(slots=True)
class Page:
    """One page of any paginated Hub listing."""

    count: int | None
    next_url: str | None
    results: list[dict[str, Any]]


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise HubFormatError(f"body is not valid JSON: {exc}") from exc


def parse_page(body: bytes) -> Page:
    return page_from(load_json(body))


def page_from(data: Any) -> Page:
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise HubFormatError("expected an object with a 'results' list")
    next_url = data.get("next")
    results = [entry for entry in data["results"] if isinstance(entry, dict)]
    return Page(
        count=as_int(data.get("count")),
        next_url=next_url if isinstance(next_url, str) and next_url else None,
        results=results,
    )


def parse_object(body: bytes) -> dict[str, Any]:
    return object_from(load_json(body))


def object_from(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise HubFormatError("expected a JSON object")
    return data


def repository_item(
    entry: dict[str, Any], *, scraped_at: str, source: str
) -> RepositoryItem:
    """A repository from a namespace listing entry (``source="listing"``) or
    a detail answer (``source="detail"``)."""
    namespace = as_str(entry.get("namespace")) or ""
    name = as_str(entry.get("name")) or ""
    if not namespace or not name:
        raise HubFormatError("repository entry lacks 'namespace' or 'name'")
    return RepositoryItem(
        full_name=f"{namespace}/{name}",
        namespace=namespace,
        name=name,
        repository_type=as_str(entry.get("repository_type")),
        description=as_str(entry.get("description")),
        full_description=as_str(entry.get("full_description")),
        star_count=as_int(entry.get("star_count")),
        pull_count=as_int(entry.get("pull_count")),
        last_updated=as_str(entry.get("last_updated")),
        last_modified=as_str(entry.get("last_modified")),
        date_registered=as_str(entry.get("date_registered")),
        is_official=namespace == OFFICIAL_NAMESPACE,
        is_private=as_bool(entry.get("is_private")),
        is_automated=as_bool(entry.get("is_automated")),
        status=as_int(entry.get("status")),
        status_description=as_str(entry.get("status_description")),
        storage_size=as_int(entry.get("storage_size")),
        affiliation=as_str(entry.get("affiliation")),
        media_types=_strings(entry.get("media_types")),
        content_types=_strings(entry.get("content_types")),
        categories=as_list(entry.get("categories")),
        source=source,
        scraped_at=scraped_at,
    )


def search_result_name(result: dict[str, Any]) -> str | None:
    """Full ``namespace/name`` of a search result (official ones lack it)."""
    repo_name = as_str(result.get("repo_name"))
    return official_full_name(repo_name) if repo_name else None


def repository_item_from_search(
    result: dict[str, Any], *, scraped_at: str
) -> RepositoryItem:
    """The little a search result tells, for crawls run with details off."""
    full_name = search_result_name(result)
    if full_name is None:
        raise HubFormatError("search result lacks 'repo_name'")
    namespace, name = full_name.split("/", 1)
    return RepositoryItem(
        full_name=full_name,
        namespace=namespace,
        name=name,
        description=as_str(result.get("short_description")),
        star_count=as_int(result.get("star_count")),
        pull_count=as_int(result.get("pull_count")),
        is_official=namespace == OFFICIAL_NAMESPACE,
        is_automated=as_bool(result.get("is_automated")),
        source="search",
        scraped_at=scraped_at,
    )


def tag_item(repo_name: str, entry: dict[str, Any], *, scraped_at: str) -> TagItem:
    name = as_str(entry.get("name"))
    if not name:
        raise HubFormatError(f"tag entry of {repo_name} lacks 'name'")
    images = entry.get("images")
    return TagItem(
        repo_name=repo_name,
        tag_name=name,
        digest=as_str(entry.get("digest")),
        media_type=as_str(entry.get("media_type")),
        content_type=as_str(entry.get("content_type")),
        full_size=as_int(entry.get("full_size")),
        last_updated=as_str(entry.get("last_updated")),
        last_updater_username=as_str(entry.get("last_updater_username")),
        last_pushed=as_str(entry.get("tag_last_pushed")),
        last_pulled=as_str(entry.get("tag_last_pulled")),
        tag_status=as_str(entry.get("tag_status")),
        v2=as_bool(entry.get("v2")),
        hub_id=as_int(entry.get("id")),
        images=[
            _image(image)
            for image in (images if isinstance(images, list) else ())
            if isinstance(image, dict)
        ],
        scraped_at=scraped_at,
    )


def _image(entry: dict[str, Any]) -> dict[str, Any]:
    # Hub sends "" for absent features; keep it, the Hub said so.
    return {
        "os": as_str(entry.get("os")),
        "architecture": as_str(entry.get("architecture")),
        "variant": as_str(entry.get("variant")),
        "os_version": as_str(entry.get("os_version")),
        "digest": as_str(entry.get("digest")),
        "size": as_int(entry.get("size")),
        "status": as_str(entry.get("status")),
        "last_pushed": as_str(entry.get("last_pushed")),
        "last_pulled": as_str(entry.get("last_pulled")),
        "features": as_str(entry.get("features")),
        "os_features": as_str(entry.get("os_features")),
    }


def _strings(value: Any) -> list[str]:
    return as_str_list(value) or []
