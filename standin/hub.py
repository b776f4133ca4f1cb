"""A local imitation of Docker Hub's Hub API (``https://hub.docker.com/v2``).

Tests, benchmarks and the demo crawl this server instead of Docker Hub. It
answers the namespace listing, repository, tag and search endpoints, on both
the current and the legacy paths, with the bodies, status codes and quirks
the real service shows: absolute ``next`` links with ``&`` written as
``\\u0026``, 200 with an empty page for an unknown namespace, 404 (403 for
search) past the last page, rate-limit headers and 429 answers.

Repositories come from a world file (``--data``), served verbatim, and from
synthetic specifications (``--synthetic-org``, ``--synthetic-repo``) whose
pages are computed on demand so that a repository may have hundreds of
thousands of tags without any of them being held in memory.

Tests steer the server through control endpoints under ``/_standin/``
(fault rules, a new world, the rate limit, request statistics); those are
never rate limited and never counted.

Run ``python -m standin.hub --port 0``; once it accepts connections it prints
one line, ``listening on http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import socket
import struct
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from .http import StandInHandler, StandInServer, serve

JSONDict = dict[str, Any]
Query = dict[str, list[str]]

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
# Docker Hub stops paging a search at about this many results; a crawler
# has to split its query to see more, so the stand-in caps it the same way.
SEARCH_RESULT_CAP = 10_000
STATS_LOG_LENGTH = 10_000

# Keys the repository detail has and the namespace listing entry lacks.
DETAIL_ONLY_KEYS = frozenset(
    {
        "user",
        "is_automated",
        "collaborator_count",
        "hub_user",
        "has_starred",
        "full_description",
        "permissions",
        "immutable_tags_settings",
        "source",
    }
)

# ordering value -> (field, descending)
LISTING_ORDERINGS: dict[str, tuple[str, bool]] = {
    "name": ("name", False),
    "-name": ("name", True),
    "last_updated": ("last_updated", False),
    "-last_updated": ("last_updated", True),
    "pull_count": ("pull_count", False),
    "-pull_count": ("pull_count", True),
}
# The Hub gives newest first for plain ``last_updated`` on tags, the reverse
# of the usual ``-`` convention, so the stand-in does too.
TAG_ORDERINGS: dict[str, tuple[str, bool]] = {
    "last_updated": ("last_updated", True),
    "-last_updated": ("last_updated", False),
    "name": ("name", False),
    "-name": ("name", True),
}

NOT_FOUND: JSONDict = {"message": "object not found", "errinfo": {}}
RATE_LIMITED: JSONDict = {"detail": "Rate limit exceeded", "error": False}

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

HUB_KINDS = ("listing", "detail", "tags", "tag", "search", "other")


# --------------------------------------------------------------------------
# JSON as Docker Hub writes it


# The Hub writes ``&`` inside JSON strings as ``\u0026`` (hence
# ``page=2\u0026page_size=100`` in its ``next`` links).  That is the HTML-safe
# escaping of Go's JSON encoder, which treats ``<``, ``>``, U+2028 and U+2029
# the same way, so the stand-in escapes all five.
_HUB_ESCAPES = (
    ("&", "\\u0026"),
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def encode_json(document: object) -> bytes:
    """Serialise ``document`` compactly, escaping as Docker Hub does.

    Other non-ASCII text stays UTF-8.  The escaped characters can only occur
    inside JSON strings, so replacing them in the whole text is safe.
    """
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in _HUB_ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return text.encode("utf-8")


def _sort_key(value: Any) -> tuple[bool, Any]:
    # Missing values sort after every present one, and so come first in a
    # descending order, as PostgreSQL orders NULLs.
    return (value is None, 0 if value is None else value)


# --------------------------------------------------------------------------
# Repositories and their tags


class Tags(Protocol):
    """The tags of one repository, addressed by position."""

    def select(self, ordering: str | None, name_filter: str | None) -> Sequence[int]:
        """Positions of the tags to list, in the order to list them."""
        ...

    def at(self, position: int) -> JSONDict: ...

    def find(self, name: str) -> JSONDict | None: ...


class Repository(Protocol):
    """One repository as the Hub API shows it."""

    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def tags(self) -> Tags: ...

    def detail(self) -> JSONDict: ...

    def entry(self) -> JSONDict: ...

    def sort_value(self, field: str) -> Any: ...

    def matches_search(self, needle: str) -> bool: ...


class StoredTags:
    """Tags read from a world file, served as written."""

    def __init__(self, tags: list[JSONDict]) -> None:
        self._tags = tags
        self._by_name = {tag["name"]: tag for tag in tags}

    def select(self, ordering: str | None, name_filter: str | None) -> Sequence[int]:
        positions: Sequence[int] = range(len(self._tags))
        if name_filter:
            needle = name_filter.lower()
            positions = [
                i for i in positions if needle in str(self._tags[i]["name"]).lower()
            ]
        if ordering is not None:
            key, descending = TAG_ORDERINGS[ordering]
            positions = sorted(
                positions,
                key=lambda i: _sort_key(self._tags[i].get(key)),
                reverse=descending,
            )
        return positions

    def at(self, position: int) -> JSONDict:
        return self._tags[position]

    def find(self, name: str) -> JSONDict | None:
        return self._by_name.get(name)


class StoredRepository:
    """A repository read from a world file, served as written."""

    def __init__(self, document: JSONDict) -> None:
        self._detail = {key: value for key, value in document.items() if key != "tags"}
        self._entry = {
            key: value
            for key, value in self._detail.items()
            if key not in DETAIL_ONLY_KEYS
        }
        self._tags = StoredTags(document.get("tags", []))
        description = self._detail.get("description") or ""
        self._search_text = f"{self.name}\n{description}".lower()

    @property
    def namespace(self) -> str:
        return str(self._detail["namespace"])

    @property
    def name(self) -> str:
        return str(self._detail["name"])

    @property
    def tags(self) -> Tags:
        return self._tags

    def detail(self) -> JSONDict:
        return self._detail

    def entry(self) -> JSONDict:
        return self._entry

    def sort_value(self, field: str) -> Any:
        return self._detail.get(field)

    def matches_search(self, needle: str) -> bool:
        return needle in self._search_text


# Synthetic timestamps count back from this instant, so that they look
# recent and stay the same from one run to the next.
_SYNTHETIC_EPOCH = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
_SYNTHETIC_PLATFORMS: tuple[tuple[str, str | None], ...] = (
    ("amd64", None),
    ("arm64", "v8"),
)


def _stable_int(text: str) -> int:
    # Python's hash() changes between runs; the stand-in's values must not.
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _synthetic_tag_name(position: int) -> str:
    # Position 0 is the newest tag; "latest" is usually the newest.
    if position == 0:
        return "latest"
    return f"1.{(position - 1) // 100}.{(position - 1) % 100}"


def _synthetic_tag_position(name: str) -> int | None:
    if name == "latest":
        return 0
    found = re.fullmatch(r"1\.(\d+)\.(\d+)", name)
    if found is None:
        return None
    major, minor = int(found[1]), int(found[2])
    position = major * 100 + minor + 1
    # Reject spellings such as 1.0.05 that map to a position but are not
    # the name that position carries.
    return position if _synthetic_tag_name(position) == name else None


class SyntheticTags:
    """Tags computed from their position; position 0 is the newest."""

    def __init__(self, repository: SyntheticRepository, count: int) -> None:
        self._repository = repository
        self._count = count

    def select(self, ordering: str | None, name_filter: str | None) -> Sequence[int]:
        positions: Sequence[int] = range(self._count)
        if name_filter:
            needle = name_filter.lower()
            positions = [i for i in positions if needle in _synthetic_tag_name(i)]
        if ordering == "-last_updated":
            positions = positions[::-1]
        elif ordering in ("name", "-name"):
            positions = sorted(
                positions, key=_synthetic_tag_name, reverse=ordering == "-name"
            )
        return positions

    def at(self, position: int) -> JSONDict:
        return self._repository.tag(position)

    def find(self, name: str) -> JSONDict | None:
        position = _synthetic_tag_position(name)
        if position is None or position >= self._count:
            return None
        return self._repository.tag(position)


class SyntheticRepository:
    """A full-shaped repository whose values derive from a seed number."""

    def __init__(self, namespace: str, name: str, seed: int, tag_count: int) -> None:
        self._namespace = namespace
        self._name = name
        self._seed = seed
        self._tags = SyntheticTags(self, tag_count)
        self._id = 10_000_000 + _stable_int(f"{namespace}/{name}") % 90_000_000
        # Multiplying by a large odd number scatters neighbouring seeds, so
        # ordering by pull count or by date differs from ordering by name.
        self._pull_count = 1_000 + (seed * 2_654_435_761) % 9_000_000
        self._updated = _SYNTHETIC_EPOCH - timedelta(
            seconds=(seed * 40_503_599) % 30_000_000,
            microseconds=(seed * 7_919) % 1_000_000,
        )

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def name(self) -> str:
        return self._name

    @property
    def tags(self) -> Tags:
        return self._tags

    def detail(self) -> JSONDict:
        seed = self._seed
        return {
            "user": self._namespace,
            "name": self._name,
            "namespace": self._namespace,
            "repository_type": "image",
            "status": 1,
            "status_description": "active",
            "description": self._description(),
            "is_private": False,
            "is_automated": False,
            "star_count": (seed * 37) % 500,
            "pull_count": self._pull_count,
            "last_updated": _timestamp(self._updated),
            "last_modified": _timestamp(self._updated + timedelta(hours=3)),
            "date_registered": _timestamp(
                _SYNTHETIC_EPOCH - timedelta(days=400 + seed % 2_000)
            ),
            "collaborator_count": 0,
            "affiliation": None,
            "hub_user": self._namespace,
            "has_starred": False,
            "full_description": f"# {self._name}\n\n{self._description()}\n",
            "permissions": {"read": True, "write": False, "admin": False},
            "media_types": [OCI_INDEX],
            "content_types": ["image"],
            "categories": [],
            "immutable_tags_settings": {"enabled": False, "rules": [".*"]},
            "storage_size": 10_000_000 + (seed * 104_729) % 5_000_000_000,
            "source": None,
        }

    def entry(self) -> JSONDict:
        return {
            key: value
            for key, value in self.detail().items()
            if key not in DETAIL_ONLY_KEYS
        }

    def sort_value(self, field: str) -> Any:
        if field == "pull_count":
            return self._pull_count
        if field == "last_updated":
            return _timestamp(self._updated)
        return self._name

    def matches_search(self, needle: str) -> bool:
        return needle in f"{self._name}\n{self._description()}".lower()

    def tag(self, position: int) -> JSONDict:
        """The tag at ``position``, built on demand."""
        tag_name = _synthetic_tag_name(position)
        reference = f"{self._namespace}/{self._name}:{tag_name}"
        updated = self._updated - timedelta(
            minutes=37 * position, microseconds=(position * 104_729) % 1_000_000
        )
        pushed = _timestamp(updated)
        pulled = self._pulled(position)
        images = [
            self._image(reference, architecture, variant, pushed, pulled)
            for architecture, variant in _SYNTHETIC_PLATFORMS
        ]
        return {
            "creator": 4_000_000 + self._seed,
            "id": self._id * 1_000 + position,
            "images": images,
            "last_updated": pushed,
            "last_updater": 4_000_000 + self._seed,
            "last_updater_username": self._namespace,
            "name": tag_name,
            "repository": self._id,
            "full_size": images[0]["size"],
            "v2": True,
            "tag_status": "active",
            "tag_last_pulled": pulled,
            "tag_last_pushed": pushed,
            "media_type": OCI_INDEX,
            "content_type": "image",
            "digest": _digest(f"index {reference}"),
        }

    def _description(self) -> str:
        return f"Synthetic repository {self._name} for benchmarks"

    def _pulled(self, position: int) -> str:
        # The Hub reports pull times with nanoseconds; keep that precision.
        moment = _SYNTHETIC_EPOCH - timedelta(seconds=53 * position)
        nanoseconds = (self._seed * 7_919 + position * 104_729) % 1_000_000_000
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanoseconds:09d}Z"

    @staticmethod
    def _image(
        reference: str, architecture: str, variant: str | None, pushed: str, pulled: str
    ) -> JSONDict:
        digest = _digest(f"manifest {reference} linux/{architecture}")
        return {
            "architecture": architecture,
            "features": "",
            "variant": variant,
            "digest": digest,
            "os": "linux",
            "os_features": "",
            "os_version": None,
            "size": 20_000_000 + int(digest[7:15], 16) % 80_000_000,
            "status": "active",
            "last_pulled": pulled,
            "last_pushed": pushed,
        }


def synthetic_org(namespace: str, repositories: int, tags: int) -> list[Repository]:
    """``repositories`` synthetic repositories named ``repo-00000`` onwards."""
    return [
        SyntheticRepository(namespace, f"repo-{index:05d}", index, tags)
        for index in range(repositories)
    ]


def synthetic_repo(namespace: str, name: str, tags: int) -> Repository:
    """One synthetic repository with ``tags`` tags."""
    return SyntheticRepository(namespace, name, _stable_int(name) % 100_000, tags)


# --------------------------------------------------------------------------
# The world: every repository the stand-in knows


class WorldError(ValueError):
    """A world document does not have the expected shape."""


class World:
    """Repositories by namespace; read-only once built."""

    def __init__(self, repositories: Iterable[Repository]) -> None:
        self._by_key: dict[tuple[str, str], Repository] = {}
        self._namespaces: dict[str, list[Repository]] = {}
        for repository in repositories:
            key = (repository.namespace, repository.name)
            # The first wins, so stored repositories shadow synthetic ones.
            if key in self._by_key:
                continue
            self._by_key[key] = repository
            self._namespaces.setdefault(repository.namespace, []).append(repository)

    def namespace(self, namespace: str) -> list[Repository]:
        return self._namespaces.get(namespace, [])

    def repository(self, namespace: str, name: str) -> Repository | None:
        return self._by_key.get((namespace, name))

    def __iter__(self) -> Iterator[Repository]:
        return iter(self._by_key.values())


def parse_world(document: object, source: str) -> list[Repository]:
    """Check a world document and return its repositories.

    Only what the stand-in needs to serve a repository is checked (a string
    ``namespace`` and ``name``, tags with unique string names); everything
    else is served as written, including absent and null fields.
    """
    if not isinstance(document, dict) or not isinstance(
        document.get("repositories"), list
    ):
        raise WorldError(f"{source}: expected an object with a 'repositories' list")
    repositories: list[Repository] = []
    seen: set[tuple[str, str]] = set()
    for position, repository in enumerate(document["repositories"]):
        where = f"{source}: repositories[{position}]"
        _check_repository(repository, where)
        key = (repository["namespace"], repository["name"])
        if key in seen:
            raise WorldError(f"{where}: repository {key[0]}/{key[1]} appears twice")
        seen.add(key)
        repositories.append(StoredRepository(repository))
    return repositories


def _check_repository(repository: object, where: str) -> None:
    if not isinstance(repository, dict):
        raise WorldError(
            f"{where}: expected an object, got {type(repository).__name__}"
        )
    for key in ("namespace", "name"):
        if not isinstance(repository.get(key), str) or not repository[key]:
            raise WorldError(f"{where}: '{key}' must be a non-empty string")
    tags = repository.get("tags", [])
    if not isinstance(tags, list):
        raise WorldError(f"{where}: 'tags' must be a list")
    names: set[str] = set()
    for index, tag in enumerate(tags):
        if not isinstance(tag, dict) or not isinstance(tag.get("name"), str):
            raise WorldError(f"{where}.tags[{index}]: expected an object with a name")
        if tag["name"] in names:
            raise WorldError(
                f"{where}.tags[{index}]: tag {tag['name']!r} appears twice"
            )
        names.add(tag["name"])


# --------------------------------------------------------------------------
# Answers to Hub API requests


@dataclass
class Reply:
    """One answer: a status, a body and extra headers."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = "application/json"


def json_reply(status: int, document: object) -> Reply:
    return Reply(status, encode_json(document))


@dataclass(frozen=True)
class HubRequest:
    """What a Hub endpoint needs to know about the request it answers."""

    path: str
    query: Query
    base_url: str
    params: dict[str, str]

    def last(self, key: str) -> str | None:
        values = self.query.get(key)
        return values[-1] if values else None

    def link(self, page: int) -> str:
        # Like the Hub: the request's other parameters are kept, the keys
        # come sorted and the link is absolute.
        query = dict(self.query)
        query["page"] = [str(page)]
        return (
            f"{self.base_url}{self.path}?{urlencode(sorted(query.items()), doseq=True)}"
        )


def paginate(
    request: HubRequest,
    positions: Sequence[Any],
    render: Callable[[Any], JSONDict],
    past_end_status: int,
    past_end_body: JSONDict,
) -> Reply:
    """One page of ``positions``, each rendered only if it is on the page."""
    page = _positive_int(request.last("page"))
    size = _positive_int(request.last("page_size")) or DEFAULT_PAGE_SIZE
    size = min(size, MAX_PAGE_SIZE)
    # The first page exists even when empty; a later one only if it holds
    # something.  What the Hub answers to page=0 or page=abc is not known;
    # the stand-in treats such a page as past the end.
    if page is None:
        page = 1 if request.last("page") in (None, "") else 0
    start = (page - 1) * size
    if page < 1 or (page > 1 and start >= len(positions)):
        return json_reply(past_end_status, past_end_body)
    stop = start + size
    return json_reply(
        200,
        {
            "count": len(positions),
            "next": request.link(page + 1) if stop < len(positions) else None,
            "previous": request.link(page - 1) if page > 1 else None,
            "results": [render(item) for item in positions[start:stop]],
        },
    )


def _positive_int(raw: str | None) -> int | None:
    """``raw`` as a positive integer, or None when it is not one."""
    if raw is None or not raw.isdigit() or not raw.isascii():
        return None
    return int(raw) or None


def _ordering_error(value: str, choices: Iterable[str]) -> Reply:
    allowed = ", ".join(choices)
    message = f"Select a valid choice. {value} is not one of: {allowed}."
    return json_reply(
        400, {"fields": {"ordering": [message]}, "text": "Invalid ordering value"}
    )


def answer_listing(world: World, request: HubRequest) -> Reply:
    ordering = request.last("ordering")
    if ordering is not None and ordering not in LISTING_ORDERINGS:
        return _ordering_error(ordering, LISTING_ORDERINGS)
    repositories = world.namespace(request.params["namespace"])
    name_filter = request.last("name")
    if name_filter:
        needle = name_filter.lower()
        repositories = [r for r in repositories if needle in r.name.lower()]
    if ordering is not None:
        key, descending = LISTING_ORDERINGS[ordering]
        repositories = sorted(
            repositories,
            key=lambda r: (_sort_key(r.sort_value(key)), r.name),
            reverse=descending,
        )
    # An unknown namespace is an empty first page, not a 404.
    return paginate(request, repositories, _entry, 404, NOT_FOUND)


def _entry(repository: Repository) -> JSONDict:
    return repository.entry()


def answer_detail(world: World, request: HubRequest) -> Reply:
    repository = world.repository(request.params["namespace"], request.params["name"])
    if repository is None:
        return json_reply(404, NOT_FOUND)
    return json_reply(200, repository.detail())


def answer_tags(world: World, request: HubRequest) -> Reply:
    repository = world.repository(request.params["namespace"], request.params["name"])
    if repository is None:
        return json_reply(404, NOT_FOUND)
    ordering = request.last("ordering")
    if ordering is not None and ordering not in TAG_ORDERINGS:
        return _ordering_error(ordering, TAG_ORDERINGS)
    tags = repository.tags
    positions = tags.select(ordering, request.last("name"))
    return paginate(request, positions, tags.at, 404, NOT_FOUND)


def answer_tag(world: World, request: HubRequest) -> Reply:
    repository = world.repository(request.params["namespace"], request.params["name"])
    if repository is None:
        return json_reply(404, NOT_FOUND)
    tag_name = request.params["tag"]
    tag = repository.tags.find(tag_name)
    if tag is None:
        message = f"httperror 404: tag '{tag_name}' not found"
        return json_reply(404, {"message": message, "errinfo": {}})
    return json_reply(200, tag)


def answer_search(world: World, request: HubRequest) -> Reply:
    needle = (request.last("query") or "").strip().lower()
    if not needle:
        return json_reply(400, {"message": "query must not be empty", "errinfo": {}})
    found = [repository for repository in world if repository.matches_search(needle)]
    found.sort(key=lambda r: (-(r.sort_value("pull_count") or 0), r.namespace, r.name))
    past_end = {"message": "page out of range", "errinfo": {}}
    return paginate(request, found[:SEARCH_RESULT_CAP], _search_result, 403, past_end)


def _search_result(repository: Repository) -> JSONDict:
    detail = repository.detail()
    official = repository.namespace == "library"
    return {
        # Official images are named without their namespace.
        "repo_name": repository.name
        if official
        else f"{repository.namespace}/{repository.name}",
        "short_description": detail.get("description"),
        "star_count": detail.get("star_count", 0),
        "pull_count": detail.get("pull_count", 0),
        # The Hub leaves the owner empty in search results.
        "repo_owner": "",
        "is_automated": bool(detail.get("is_automated", False)),
        "is_official": official,
    }


def answer_unknown(world: World, request: HubRequest) -> Reply:
    return json_reply(404, NOT_FOUND)


Endpoint = Callable[[World, HubRequest], Reply]

_REPOSITORY = r"/(?P<namespace>[^/]+)/(?P<name>[^/]+)"
_CURRENT = r"/v2/namespaces/(?P<namespace>[^/]+)/repositories/(?P<name>[^/]+)"
HUB_ROUTES: tuple[tuple[re.Pattern[str], str, Endpoint], ...] = (
    (
        re.compile(r"/v2/namespaces/(?P<namespace>[^/]+)/repositories/?"),
        "listing",
        answer_listing,
    ),
    (re.compile(_CURRENT + "/?"), "detail", answer_detail),
    (re.compile(_CURRENT + "/tags/?"), "tags", answer_tags),
    (re.compile(_CURRENT + "/tags/(?P<tag>[^/]+)/?"), "tag", answer_tag),
    (re.compile(r"/v2/search/repositories/?"), "search", answer_search),
    (re.compile(r"/v2/repositories/(?P<namespace>[^/]+)/?"), "listing", answer_listing),
    (re.compile(r"/v2/repositories" + _REPOSITORY + "/?"), "detail", answer_detail),
    (re.compile(r"/v2/repositories" + _REPOSITORY + "/tags/?"), "tags", answer_tags),
    (
        re.compile(r"/v2/repositories" + _REPOSITORY + "/tags/(?P<tag>[^/]+)/?"),
        "tag",
        answer_tag,
    ),
)


def route(path: str) -> tuple[str, Endpoint, dict[str, str]]:
    """The kind, endpoint and path parameters that answer ``path``."""
    for pattern, kind, endpoint in HUB_ROUTES:
        found = pattern.fullmatch(path)
        if found is not None:
            params = {key: unquote(value) for key, value in found.groupdict().items()}
            return kind, endpoint, params
    return "other", answer_unknown, {}


# --------------------------------------------------------------------------
# Faults, rate limit and statistics


FAULT_ACTIONS = ("status", "bad_json", "reset", "delay", "bare_429")


class ControlError(ValueError):
    """A control request asked for something the stand-in cannot do."""


@dataclass
class Fault:
    """A rule that makes matching Hub API requests misbehave.

    ``times`` is how many more requests it fires for; None fires for every
    matching request.
    """

    match: re.Pattern[str]
    action: str
    status: int = 503
    times: int | None = 1
    seconds: float = 5.0

    def describe(self) -> JSONDict:
        return {
            "match": self.match.pattern,
            "action": self.action,
            "status": self.status,
            "times": self.times,
            "seconds": self.seconds,
        }


def parse_faults(document: object) -> list[Fault]:
    """Fault rules from their JSON form (a list of objects)."""
    if not isinstance(document, list):
        raise ControlError("fault rules must be a JSON list of objects")
    return [_parse_fault(rule, index) for index, rule in enumerate(document)]


def _parse_fault(rule: object, index: int) -> Fault:
    where = f"fault rule {index}"
    if not isinstance(rule, dict):
        raise ControlError(f"{where}: expected an object")
    unknown = set(rule) - {"match", "action", "status", "times", "seconds"}
    if unknown:
        raise ControlError(f"{where}: unknown keys {sorted(unknown)}")
    if not isinstance(rule.get("match"), str):
        raise ControlError(f"{where}: 'match' must be a regular expression string")
    try:
        pattern = re.compile(rule["match"])
    except re.error as exc:
        raise ControlError(f"{where}: bad 'match' {rule['match']!r}: {exc}") from exc
    action = rule.get("action")
    if action not in FAULT_ACTIONS:
        raise ControlError(
            f"{where}: 'action' {action!r} is not one of {FAULT_ACTIONS}"
        )
    status = rule.get("status", 503)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ControlError(f"{where}: 'status' {status!r} is not an HTTP status")
    times = rule.get("times", 1)
    if times is not None and (not isinstance(times, int) or times < 0):
        raise ControlError(f"{where}: 'times' {times!r} must be null or an int >= 0")
    seconds = rule.get("seconds", 5.0)
    if not isinstance(seconds, int | float) or seconds < 0:
        raise ControlError(f"{where}: 'seconds' {seconds!r} must be a number >= 0")
    return Fault(pattern, str(action), status, times, float(seconds))


class RateLimit:
    """A fixed-window request limit like the Hub's per-minute limit."""

    def __init__(self, limit: int | None, window: float) -> None:
        self.configure(limit, window)

    def configure(self, limit: int | None, window: float) -> None:
        self.limit = limit
        self.window = window
        self._window_start = time.time()
        self._used = 0

    def admit(self, now: float) -> tuple[bool, list[tuple[str, str]]]:
        """Count one request; whether it may go on, and the headers to send."""
        if self.limit is None:
            return True, []
        if now >= self._window_start + self.window:
            self._window_start = now
            self._used = 0
        self._used += 1
        window_end = self._window_start + self.window
        headers = [
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Remaining", str(max(0, self.limit - self._used))),
            ("X-RateLimit-Reset", str(math.ceil(window_end))),
        ]
        if self._used <= self.limit:
            return True, headers
        headers.append(("Retry-After", str(max(1, math.ceil(window_end - now)))))
        return False, headers

    def describe(self) -> JSONDict:
        return {"limit": self.limit, "window": self.window}


class HubState:
    """Everything requests share, behind one lock.

    The world is replaced whole and never changed in place, so a request
    reads it under the lock and then answers from it without the lock.
    """

    def __init__(
        self,
        stored: list[Repository],
        synthetic: list[Repository],
        rate_limit: RateLimit,
        faults: list[Fault],
    ) -> None:
        self._lock = threading.Lock()
        self._synthetic = synthetic
        self._world = World([*stored, *synthetic])
        self._rate_limit = rate_limit
        self._faults = faults
        self._in_flight = 0
        self._requests = 0
        self._by_kind: dict[str, int] = {}
        self._by_status: dict[str, int] = {}
        self._max_concurrent = 0
        self._log: deque[tuple[float, str, str, int]] = deque(maxlen=STATS_LOG_LENGTH)
        self._reset_stats_locked()

    @property
    def world(self) -> World:
        with self._lock:
            return self._world

    def replace_world(self, stored: list[Repository]) -> None:
        # Synthetic repositories come from the command line and stay.
        world = World([*stored, *self._synthetic])
        with self._lock:
            self._world = world

    def set_faults(self, faults: list[Fault]) -> None:
        with self._lock:
            self._faults = faults

    def describe_faults(self) -> list[JSONDict]:
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def take_fault(self, target: str) -> Fault | None:
        """The first rule that matches ``target`` and may still fire."""
        with self._lock:
            for fault in self._faults:
                if fault.times == 0 or not fault.match.search(target):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault
            return None

    def configure_rate_limit(self, limit: int | None, window: float) -> JSONDict:
        with self._lock:
            self._rate_limit.configure(limit, window)
            return self._rate_limit.describe()

    def describe_rate_limit(self) -> JSONDict:
        with self._lock:
            return self._rate_limit.describe()

    def admit(self) -> tuple[bool, list[tuple[str, str]]]:
        with self._lock:
            return self._rate_limit.admit(time.time())

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_concurrent = max(self._max_concurrent, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def record(self, kind: str, method: str, target: str, status: int) -> None:
        """Count one answered Hub API request; status 0 means no answer."""
        with self._lock:
            self._requests += 1
            self._by_kind[kind] = self._by_kind.get(kind, 0) + 1
            key = str(status)
            self._by_status[key] = self._by_status.get(key, 0) + 1
            self._log.append((time.time(), method, target, status))

    def stats(self) -> JSONDict:
        with self._lock:
            return {
                "requests": self._requests,
                "by_kind": dict(self._by_kind),
                "status": dict(self._by_status),
                "max_concurrent": self._max_concurrent,
                "log": [list(line) for line in self._log],
            }

    def reset_stats(self) -> None:
        with self._lock:
            self._reset_stats_locked()

    def _reset_stats_locked(self) -> None:
        self._requests = 0
        self._by_kind = dict.fromkeys(HUB_KINDS, 0)
        self._by_status = {}
        self._max_concurrent = self._in_flight
        self._log.clear()


# --------------------------------------------------------------------------
# HTTP


class HubServer(StandInServer):
    """The HTTP server; it carries the shared state for its handlers."""

    def __init__(
        self,
        address: tuple[str, int],
        state: HubState,
        public_url: str | None,
        verbose: bool,
    ) -> None:
        super().__init__(address, HubHandler)
        self.state = state
        self.verbose = verbose
        self.public_url = (public_url or self.url).rstrip("/")


class HubHandler(StandInHandler):
    """Answers one connection's requests, Hub API and control alike."""

    # Headers and body go out in two writes; without TCP_NODELAY the second
    # waits for the client's delayed ACK, about 40 ms per answer.
    disable_nagle_algorithm = True
    server_version = "standin-hub"
    server: HubServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        try:
            if urlsplit(self.path).path.startswith("/_standin/"):
                self._send(self._control(method, body))
            else:
                self._serve_hub(method)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout test, say); nobody is left to
            # answer.
            self.close_connection = True

    def _read_body(self) -> bytes:
        # Read any body even when unused, or its bytes would be taken for
        # the next request on this connection.
        raw = self.headers.get("Content-Length") or "0"
        length = int(raw) if raw.isdigit() else 0
        return self.rfile.read(length) if length else b""

    def _serve_hub(self, method: str) -> None:
        state = self.server.state
        split = urlsplit(self.path)
        kind, endpoint, params = route(split.path)
        if method != "GET":
            endpoint = _method_not_allowed
        state.enter()
        try:
            # Faults stand for trouble in front of the API (a proxy, the
            # network), so they fire before the rate limit and use none of it.
            fault = state.take_fault(self.path)
            if fault is not None and fault.action != "delay":
                self._misbehave(fault, kind, method)
                return
            if fault is not None:
                time.sleep(fault.seconds)
            allowed, headers = state.admit()
            if allowed:
                reply = self._answer(endpoint, split.path, split.query, params)
            else:
                reply = json_reply(429, RATE_LIMITED)
            reply.headers.extend(headers)
            state.record(kind, method, self.path, reply.status)
            self._send(reply)
        finally:
            state.leave()

    def _answer(
        self, endpoint: Endpoint, path: str, query: str, params: dict[str, str]
    ) -> Reply:
        request = HubRequest(
            path,
            parse_qs(query, keep_blank_values=True),
            self.server.public_url,
            params,
        )
        try:
            return endpoint(self.server.state.world, request)
        except Exception:
            # A bug in the stand-in must reach the test as an answer it can
            # report, not as a connection that closes without one.
            traceback.print_exc()
            message = "stand-in failed; its stderr has the traceback"
            return json_reply(500, {"message": message, "errinfo": {}})

    def _misbehave(self, fault: Fault, kind: str, method: str) -> None:
        state = self.server.state
        if fault.action == "reset":
            state.record(kind, method, self.path, 0)
            self._reset_connection()
            return
        if fault.action == "status":
            reply = json_reply(
                fault.status, {"message": "injected fault", "errinfo": {}}
            )
        elif fault.action == "bad_json":
            reply = Reply(200, b'{"count": 3, "next": "http://')
        else:
            reply = Reply(429, content_type=None)
        state.record(kind, method, self.path, reply.status)
        self._send(reply)

    def _reset_connection(self) -> None:
        # Linger 0 makes close() send RST instead of FIN, so the client sees
        # a reset rather than a clean end.  The socket only really closes
        # once the buffered reader on it is closed too.
        self.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        self.rfile.close()
        self.connection.close()
        self.close_connection = True

    def _send(self, reply: Reply) -> None:
        self.respond(
            reply.status, reply.body, reply.headers, content_type=reply.content_type
        )

    def _control(self, method: str, body: bytes) -> Reply:
        path = urlsplit(self.path).path
        handler = CONTROL_ROUTES.get((method, path))
        if handler is None:
            if any(known == path for _, known in CONTROL_ROUTES):
                return json_reply(405, {"error": f"{method} not allowed on {path}"})
            return json_reply(404, {"error": f"no control endpoint {path}"})
        try:
            document = json.loads(body) if body else None
            return json_reply(200, handler(self.server.state, document))
        except json.JSONDecodeError as exc:
            return json_reply(400, {"error": f"body is not valid JSON: {exc}"})
        except (ControlError, WorldError) as exc:
            return json_reply(400, {"error": str(exc)})


def _method_not_allowed(world: World, request: HubRequest) -> Reply:
    return json_reply(405, {"detail": "Method not allowed"})


# --------------------------------------------------------------------------
# Control endpoints


def _put_faults(state: HubState, document: object) -> object:
    state.set_faults(parse_faults(document))
    return state.describe_faults()


def _get_faults(state: HubState, document: object) -> object:
    return state.describe_faults()


def _put_world(state: HubState, document: object) -> object:
    stored = parse_world(document, "world")
    state.replace_world(stored)
    return {"repositories": len(stored)}


def _put_rate_limit(state: HubState, document: object) -> object:
    if not isinstance(document, dict) or "limit" not in document:
        raise ControlError('expected {"limit": L or null, "window": seconds}')
    limit = document["limit"]
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ControlError(f"'limit' {limit!r} must be null or an int >= 0")
    window = document.get("window", state.describe_rate_limit()["window"])
    if not isinstance(window, int | float) or window <= 0:
        raise ControlError(f"'window' {window!r} must be a number of seconds > 0")
    return state.configure_rate_limit(limit, float(window))


def _get_rate_limit(state: HubState, document: object) -> object:
    return state.describe_rate_limit()


def _get_stats(state: HubState, document: object) -> object:
    return state.stats()


def _reset_stats(state: HubState, document: object) -> object:
    state.reset_stats()
    return state.stats()


CONTROL_ROUTES: dict[tuple[str, str], Callable[[HubState, object], object]] = {
    ("PUT", "/_standin/faults"): _put_faults,
    ("GET", "/_standin/faults"): _get_faults,
    ("PUT", "/_standin/world"): _put_world,
    ("PUT", "/_standin/ratelimit"): _put_rate_limit,
    ("GET", "/_standin/ratelimit"): _get_rate_limit,
    ("GET", "/_standin/stats"): _get_stats,
    ("POST", "/_standin/stats/reset"): _reset_stats,
}


# --------------------------------------------------------------------------
# Command line

_NAME = r"[a-z0-9][a-z0-9._-]*"


def _org_spec(text: str) -> tuple[str, int, int]:
    found = re.fullmatch(rf"({_NAME}):(\d+):(\d+)", text)
    if found is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAMESPACE:REPOSITORIES:TAGS, e.g. bench:1000:3"
        )
    return found[1], int(found[2]), int(found[3])


def _repo_spec(text: str) -> tuple[str, str, int]:
    found = re.fullmatch(rf"({_NAME})/({_NAME}):(\d+)", text)
    if found is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAMESPACE/NAME:TAGS, e.g. big/many:20000"
        )
    return found[1], found[2], int(found[3])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m standin.hub",
        description="A local imitation of Docker Hub's Hub API for tests.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--data", type=Path, help="world JSON file")
    parser.add_argument(
        "--synthetic-org",
        type=_org_spec,
        action="append",
        default=[],
        metavar="NS:REPOS:TAGS",
    )
    parser.add_argument(
        "--synthetic-repo",
        type=_repo_spec,
        action="append",
        default=[],
        metavar="NS/NAME:TAGS",
    )
    parser.add_argument("--rate-limit", type=int, metavar="L")
    parser.add_argument("--rate-window", type=float, default=60.0, metavar="SECONDS")
    parser.add_argument("--faults", type=Path, help="JSON list of fault rules")
    parser.add_argument(
        "--public-url", help="base of next/previous links instead of our own URL"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def _read_json(parser: argparse.ArgumentParser, option: str, path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        parser.error(f"{option} {path}: cannot read: {exc.strerror}")
    except json.JSONDecodeError as exc:
        parser.error(f"{option} {path}: not valid JSON: {exc}")


def build_state(
    parser: argparse.ArgumentParser, options: argparse.Namespace
) -> HubState:
    """The server's state as the command line describes it."""
    stored: list[Repository] = []
    if options.data is not None:
        document = _read_json(parser, "--data", options.data)
        try:
            stored = parse_world(document, str(options.data))
        except WorldError as exc:
            parser.error(str(exc))
    synthetic: list[Repository] = []
    for namespace, repositories, tags in options.synthetic_org:
        synthetic.extend(synthetic_org(namespace, repositories, tags))
    for namespace, name, tags in options.synthetic_repo:
        synthetic.append(synthetic_repo(namespace, name, tags))
    faults: list[Fault] = []
    if options.faults is not None:
        try:
            faults = parse_faults(_read_json(parser, "--faults", options.faults))
        except ControlError as exc:
            parser.error(f"--faults {options.faults}: {exc}")
    if options.rate_limit is not None and options.rate_limit < 0:
        parser.error(f"--rate-limit {options.rate_limit}: must be >= 0")
    if options.rate_window <= 0:
        parser.error(f"--rate-window {options.rate_window}: must be > 0")
    rate_limit = RateLimit(options.rate_limit, options.rate_window)
    return HubState(stored, synthetic, rate_limit, faults)


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    options = parser.parse_args(argv)
    state = build_state(parser, options)
    server = HubServer(
        (options.host, options.port), state, options.public_url, options.verbose
    )
    serve(server)


if __name__ == "__main__":
    main(sys.argv[1:])
