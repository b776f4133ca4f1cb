"""URLs of the Hub API endpoints the spiders call.

The current ``/v2/namespaces/...`` paths are used; the legacy
``/v2/repositories/...`` ones answer the same body but are deprecated.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode


def namespace_repositories(hub_url: str, namespace: str, page_size: int) -> str:
    return (
        f"{hub_url}/v2/namespaces/{quote(namespace)}/repositories"
        f"?{urlencode({'page_size': page_size})}"
    )


def repository(hub_url: str, full_name: str) -> str:
    namespace, name = full_name.split("/", 1)
    return f"{hub_url}/v2/namespaces/{quote(namespace)}/repositories/{quote(name)}"


def repository_tags(hub_url: str, full_name: str, page_size: int) -> str:
    query = urlencode({"page_size": page_size})
    return f"{repository(hub_url, full_name)}/tags?{query}"


def search(hub_url: str, query: str, page_size: int) -> str:
    params = urlencode({"query": query, "page": 1, "page_size": page_size})
    return f"{hub_url}/v2/search/repositories/?{params}"
