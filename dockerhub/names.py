"""Docker Hub naming rules for namespaces, repositories and tags.

These follow the repository-name grammar of the OCI distribution spec, which
Docker Hub enforces: lowercase alphanumeric components joined by ``.``, ``_``,
``__`` or runs of ``-``.  Validating up front turns a typo into a clear error
instead of a crawl of 404s.
"""

from __future__ import annotations

import re

from dockerhub.exceptions import SpiderArgumentError

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")

COMPONENT_RULE = (
    "lowercase letters and digits, optionally joined by '.', '_', '__' or '-', "
    "at most 255 characters"
)
REPOSITORY_RULE = (
    "'name' (an official image, stored as library/name) or 'namespace/name', "
    f"each part {COMPONENT_RULE}"
)
OFFICIAL_NAMESPACE = "library"


def is_component(value: str) -> bool:
    """Whether ``value`` is a valid namespace or repository name on its own."""
    return len(value) <= 255 and _COMPONENT.match(value) is not None


def check_namespace(argument: str, value: str) -> str:
    """Return ``value`` stripped, or raise naming the argument and the rule."""
    name = value.strip()
    if not is_component(name):
        raise SpiderArgumentError(argument, value, f"a namespace is {COMPONENT_RULE}")
    return name


def check_repository(argument: str, value: str) -> str:
    """Return the full ``namespace/name`` for a repository reference.

    A bare ``nginx`` means the official image ``library/nginx``, as it does
    for ``docker pull``.
    """
    ref = value.strip()
    parts = ref.split("/")
    if len(parts) == 1:
        parts = [OFFICIAL_NAMESPACE, parts[0]]
    if len(parts) != 2 or not all(is_component(part) for part in parts):
        raise SpiderArgumentError(argument, value, f"a repository is {REPOSITORY_RULE}")
    return "/".join(parts)


def split_list(value: str) -> list[str]:
    """Split a comma-separated argument, dropping empty entries."""
    return [part.strip() for part in value.split(",") if part.strip()]


def official_full_name(repo_name: str) -> str:
    """Search results name official images without a namespace."""
    return repo_name if "/" in repo_name else f"{OFFICIAL_NAMESPACE}/{repo_name}"
