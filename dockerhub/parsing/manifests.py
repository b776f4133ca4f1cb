"""Parse registry manifests and image configs.

Understands the OCI index and the Docker manifest list (multi-platform),
the OCI and Docker schema 2 image manifests, legacy schema 1 (whose layers
are listed newest first; they are returned base first like the others),
Windows foreign layers, and BuildKit attestation manifests, which look
like platforms (``unknown/unknown``) but are not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockerhub.clock import utc_now
from dockerhub.items import ImageConfigItem, ManifestItem
from dockerhub.parsing.values import as_int, as_str, as_str_list

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
SCHEMA1_TYPES = frozenset({SCHEMA1, SCHEMA1_SIGNED})

#: Every manifest type this module understands, for the ``Accept`` header;
#: a registry answers 404 when the stored type is not listed.
ACCEPT = ", ".join(
    [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST, SCHEMA1_SIGNED, SCHEMA1]
)

REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
PREDICATE_TYPE = "in-toto.io/predicate-type"
BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"


class ManifestError(ValueError):
    """A body that is not a manifest or config this module understands."""


@dataclass(slots=True)
class Platform:
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    os_version: str | None = None

    def key(self) -> str:
        """``os/architecture[/variant]``, as the ``platforms`` argument spells it."""
        parts = [self.os or "", self.architecture or ""]
        if self.variant:
            parts.append(self.variant)
        return "/".join(parts)


@dataclass(slots=True)
class Layer:
    digest: str
    size: int | None
    media_type: str | None
    urls: list[str] = field(default_factory=list)
    predicate_type: str | None = None


@dataclass(slots=True)
class Child:
    """One entry of an index: a platform manifest or an attestation."""

    digest: str
    media_type: str | None
    size: int | None
    platform: Platform
    #: For an attestation: the digest of the manifest it describes.
    attests: str | None = None


@dataclass(slots=True)
class Manifest:
    digest: str
    media_type: str
    kind: str  # "index", "image", "attestation" or "schema1"
    size: int
    children: list[Child] = field(default_factory=list)
    config_digest: str | None = None
    config_size: int | None = None
    layers: list[Layer] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    platform: Platform = field(default_factory=Platform)
    #: Only schema 1 carries its creation time in the manifest itself.
    created: str | None = None

    @property
    def platforms(self) -> list[Child]:
        return [child for child in self.children if child.attests is None]

    @property
    def attestations(self) -> list[Child]:
        return [child for child in self.children if child.attests is not None]


def sha256_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def parse_manifest(body: bytes, content_type: str | None, digest: str) -> Manifest:
    """Parse a manifest of any supported type; ``digest`` is what names it."""
    data = _json_object(body)
    media_type = _media_type(data, content_type)
    if media_type in INDEX_TYPES or isinstance(data.get("manifests"), list):
        return _index(data, media_type or OCI_INDEX, digest, len(body))
    if media_type in SCHEMA1_TYPES or data.get("schemaVersion") == 1:
        return _schema1(data, media_type or SCHEMA1_SIGNED, digest, len(body))
    if isinstance(data.get("layers"), list):
        return _image(data, media_type or OCI_MANIFEST, digest, len(body))
    raise ManifestError(f"unknown manifest type {media_type!r}")


def _media_type(data: dict[str, Any], content_type: str | None) -> str | None:
    declared = data.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if content_type:
        return content_type.split(";", 1)[0].strip() or None
    return None


def _index(data: dict[str, Any], media_type: str, digest: str, size: int) -> Manifest:
    children = []
    for entry in data["manifests"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            continue
        annotations = _annotations(entry)
        platform = _platform(entry.get("platform"))
        attests = None
        if annotations.get(REFERENCE_TYPE) == "attestation-manifest":
            attests = annotations.get(REFERENCE_DIGEST) or ""
        elif platform.os == "unknown" and platform.architecture == "unknown":
            attests = ""  # an attestation that does not say what it attests
        children.append(
            Child(
                digest=entry["digest"],
                media_type=as_str(entry.get("mediaType")),
                size=as_int(entry.get("size")),
                platform=platform,
                attests=attests,
            )
        )
    return Manifest(
        digest=digest,
        media_type=media_type,
        kind="index",
        size=size,
        children=children,
        annotations=_annotations(data),
    )


def _image(data: dict[str, Any], media_type: str, digest: str, size: int) -> Manifest:
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    assert isinstance(config, dict)
    layers = [
        Layer(
            digest=entry["digest"],
            size=as_int(entry.get("size")),
            media_type=as_str(entry.get("mediaType")),
            urls=[url for url in entry.get("urls") or [] if isinstance(url, str)],
            predicate_type=_annotations(entry).get(PREDICATE_TYPE),
        )
        for entry in data["layers"]
        if isinstance(entry, dict) and isinstance(entry.get("digest"), str)
    ]
    is_attestation = any(
        layer.media_type == IN_TOTO or layer.predicate_type for layer in layers
    )
    return Manifest(
        digest=digest,
        media_type=media_type,
        kind="attestation" if is_attestation else "image",
        size=size,
        config_digest=as_str(config.get("digest")),
        config_size=as_int(config.get("size")),
        layers=layers,
        annotations=_annotations(data),
    )


def _schema1(data: dict[str, Any], media_type: str, digest: str, size: int) -> Manifest:
    fs_layers = data.get("fsLayers")
    if not isinstance(fs_layers, list):
        raise ManifestError("schema 1 manifest without fsLayers")
    # fsLayers lists the newest layer first; store base first like schema 2.
    layers = [
        Layer(digest=entry["blobSum"], size=None, media_type=None)
        for entry in reversed(fs_layers)
        if isinstance(entry, dict) and isinstance(entry.get("blobSum"), str)
    ]
    created = None
    os_name = None
    history = data.get("history")
    if isinstance(history, list) and history and isinstance(history[0], dict):
        try:
            newest = json.loads(history[0].get("v1Compatibility", ""))
        except ValueError:
            newest = {}
        if isinstance(newest, dict):
            created = as_str(newest.get("created"))
            os_name = as_str(newest.get("os"))
    return Manifest(
        digest=digest,
        media_type=media_type,
        kind="schema1",
        size=size,
        layers=layers,
        platform=Platform(os=os_name, architecture=as_str(data.get("architecture"))),
        created=created,
    )


@dataclass(slots=True)
class ImageConfig:
    digest: str
    created: str | None
    os: str | None
    architecture: str | None
    variant: str | None
    os_version: str | None
    env: list[str]
    entrypoint: list[str] | None
    cmd: list[str] | None
    labels: dict[str, str]
    working_dir: str | None
    user: str | None
    history: list[dict[str, Any]]
    diff_ids: list[str]


def parse_config(body: bytes, digest: str) -> ImageConfig:
    data = _json_object(body)
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    assert isinstance(config, dict)
    rootfs = data.get("rootfs") if isinstance(data.get("rootfs"), dict) else {}
    assert isinstance(rootfs, dict)
    history = [
        {
            "created": as_str(entry.get("created")),
            "created_by": as_str(entry.get("created_by")),
            "comment": as_str(entry.get("comment")),
            "empty_layer": bool(entry.get("empty_layer", False)),
        }
        for entry in data.get("history") or []
        if isinstance(entry, dict)
    ]
    labels = config.get("Labels") if isinstance(config.get("Labels"), dict) else {}
    assert isinstance(labels, dict)
    return ImageConfig(
        digest=digest,
        created=as_str(data.get("created")),
        os=as_str(data.get("os")),
        architecture=as_str(data.get("architecture")),
        variant=as_str(data.get("variant")),
        os_version=as_str(data.get("os.version")),
        env=as_str_list(config.get("Env")) or [],
        entrypoint=as_str_list(config.get("Entrypoint")),
        cmd=as_str_list(config.get("Cmd")),
        labels={str(k): str(v) for k, v in labels.items()},
        working_dir=as_str(config.get("WorkingDir")) or None,
        user=as_str(config.get("User")) or None,
        history=history,
        diff_ids=as_str_list(rootfs.get("diff_ids")) or [],
    )


def manifest_item(
    manifest: Manifest, repo_name: str, platform: Mapping[str, Any]
) -> ManifestItem:
    own = manifest.platform
    return ManifestItem(
        digest=manifest.digest,
        media_type=manifest.media_type,
        kind=manifest.kind,
        repo_name=repo_name,
        size=manifest.size,
        os=platform.get("os") or own.os,
        architecture=platform.get("architecture") or own.architecture,
        variant=platform.get("variant") or own.variant,
        os_version=platform.get("os_version") or own.os_version,
        config_digest=manifest.config_digest,
        base_name=manifest.annotations.get(BASE_NAME),
        base_digest=manifest.annotations.get(BASE_DIGEST),
        created=manifest.created,
        annotations=manifest.annotations,
        layers=[
            {
                "digest": layer.digest,
                "size": layer.size,
                "media_type": layer.media_type,
                "urls": layer.urls,
                "predicate_type": layer.predicate_type,
            }
            for layer in manifest.layers
        ],
        children=[
            {
                "digest": child.digest,
                "media_type": child.media_type,
                "size": child.size,
                "os": child.platform.os,
                "architecture": child.platform.architecture,
                "variant": child.platform.variant,
                "os_version": child.platform.os_version,
                "attests": child.attests,
            }
            for child in manifest.children
        ],
        fetched_at=utc_now(),
    )


def config_item(config: ImageConfig, repo_name: str) -> ImageConfigItem:
    return ImageConfigItem(
        digest=config.digest,
        repo_name=repo_name,
        created=config.created,
        os=config.os,
        architecture=config.architecture,
        variant=config.variant,
        os_version=config.os_version,
        env=config.env,
        entrypoint=config.entrypoint,
        cmd=config.cmd,
        labels=config.labels,
        working_dir=config.working_dir,
        user=config.user,
        history=config.history,
        diff_ids=config.diff_ids,
        fetched_at=utc_now(),
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ManifestError(f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError("expected a JSON object")
    return data


def _platform(value: Any) -> Platform:
    if not isinstance(value, dict):
        return Platform()
    return Platform(
        os=as_str(value.get("os")),
        architecture=as_str(value.get("architecture")),
        variant=as_str(value.get("variant")),
        os_version=as_str(value.get("os.version")),
    )


def _annotations(data: dict[str, Any]) -> dict[str, str]:
    value = data.get("annotations")
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}
