"""Build small, deterministic images and push them through the Registry API.

Every layer is a real gzip tar made in memory with fixed modification times,
so the same code always yields the same digests. ``push_fixture()`` pushes
the set the tests rely on into a registry (normally ``LocalRegistry``) and
returns a JSON-able description of what it pushed; see its docstring.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import logging
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Protocol
from urllib.parse import quote, urljoin

logger = logging.getLogger(__name__)

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
IN_TOTO = "application/vnd.in-toto+json"

#: Every manifest media type, for an ``Accept`` header that takes anything.
MANIFEST_TYPES = (
    OCI_INDEX,
    DOCKER_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
    SCHEMA1_SIGNED,
)

SPDX_PREDICATE = "https://spdx.dev/Document"
SLSA_PREDICATE = "https://slsa.dev/provenance/v0.2"
IN_TOTO_STATEMENT = "https://in-toto.io/Statement/v0.1"

#: 2024-06-01T12:00:00Z: one instant for every file and every ``created``.
FIXED_EPOCH = 1717243200
FIXED_CREATED = "2024-06-01T12:00:00Z"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Compact JSON in insertion order: stable bytes, hence stable digests."""
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Blob:
    """Bytes with the media type they are referenced under."""

    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
            **extra,
        }


@dataclass(frozen=True)
class Layer:
    """A compressed layer, the digest of its uncompressed tar, and its origin."""

    data: bytes
    diff_id: str
    created_by: str


@dataclass(frozen=True)
class Family:
    """The media types one manifest family uses for its parts."""

    index: str
    manifest: str
    config: str
    layer: str


OCI = Family(OCI_INDEX, OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
DOCKER = Family(DOCKER_LIST, DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    def as_json(self) -> dict[str, str]:
        value = {"architecture": self.architecture, "os": self.os}
        if self.os_version is not None:
            value["os.version"] = self.os_version
        if self.variant is not None:
            value["variant"] = self.variant
        return value


@dataclass(frozen=True)
class Recipe:
    """What an image's config says beyond its layers."""

    cmd: Sequence[str] = ("sh",)
    entrypoint: Sequence[str] | None = None
    env: Sequence[str] = ("PATH=/usr/local/bin:/usr/bin:/bin",)
    labels: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "/"


@dataclass(frozen=True)
class Image:
    """One platform's manifest with the config and layers it references."""

    platform: Platform
    manifest: Blob
    config: Blob
    layers: tuple[Blob, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (self.config, *self.layers)


def tar_gzip_layer(files: Mapping[str, bytes], created_by: str) -> Layer:
    """A gzip tar of ``files`` whose bytes depend on nothing but ``files``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = FIXED_EPOCH
            info.mode = 0o755 if name.startswith(("bin/", "usr/bin/")) else 0o644
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    # mtime=0 keeps the gzip header free of the current time.
    compressed = gzip.compress(tar_bytes, compresslevel=9, mtime=0)
    return Layer(compressed, sha256_digest(tar_bytes), created_by)


def image_config(platform: Platform, layers: Sequence[Layer], recipe: Recipe) -> Blob:
    config: dict[str, Any] = {"Env": list(recipe.env), "Cmd": list(recipe.cmd)}
    if recipe.entrypoint is not None:
        config["Entrypoint"] = list(recipe.entrypoint)
    config["Labels"] = dict(recipe.labels)
    config["WorkingDir"] = recipe.workdir

    history: list[dict[str, Any]] = [
        {"created": FIXED_CREATED, "created_by": layer.created_by} for layer in layers
    ]
    steps = [f"ENV {' '.join(recipe.env)}", f"WORKDIR {recipe.workdir}"]
    if recipe.entrypoint is not None:
        steps.append(f"ENTRYPOINT {json.dumps(list(recipe.entrypoint))}")
    steps.append(f"CMD {json.dumps(list(recipe.cmd))}")
    for step in steps:
        history.append(
            {"created": FIXED_CREATED, "created_by": step, "empty_layer": True}
        )

    value: dict[str, Any] = {**platform.as_json(), "created": FIXED_CREATED}
    value["config"] = config
    value["history"] = history
    value["rootfs"] = {
        "type": "layers",
        "diff_ids": [layer.diff_id for layer in layers],
    }
    return Blob(OCI_CONFIG, canonical_json(value))


def image_manifest(
    family: Family,
    config: Blob,
    layers: Sequence[Blob],
    annotations: Mapping[str, str] | None = None,
) -> Blob:
    value: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": family.manifest,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    if annotations:
        value["annotations"] = dict(annotations)
    return Blob(family.manifest, canonical_json(value))


def build_image(
    family: Family,
    platform: Platform,
    layers: Sequence[Layer],
    recipe: Recipe | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Image:
    config = image_config(platform, layers, recipe or Recipe())
    config = dataclasses.replace(config, media_type=family.config)
    layer_blobs = tuple(Blob(family.layer, layer.data) for layer in layers)
    manifest = image_manifest(family, config, layer_blobs, annotations)
    return Image(platform, manifest, config, layer_blobs, annotations or {})


def image_index(
    family: Family, images: Sequence[Image], attestations: Sequence[Image] = ()
) -> Blob:
    entries = [
        image.manifest.descriptor(platform=image.platform.as_json()) for image in images
    ]
    entries += [
        image.manifest.descriptor(
            annotations=dict(image.annotations), platform=image.platform.as_json()
        )
        for image in attestations
    ]
    value = {"schemaVersion": 2, "mediaType": family.index, "manifests": entries}
    return Blob(family.index, canonical_json(value))


def attestation_image(
    repository: str, subject: Image, statements: Sequence[tuple[str, Any]]
) -> Image:
    """A BuildKit-style attestation manifest about ``subject``.

    ``statements`` are ``(predicate type, predicate)`` pairs; each becomes
    one in-toto layer.
    """
    platform = subject.platform
    purl = f"pkg:docker/{repository}?platform={platform.os}%2F{platform.architecture}"
    layers = []
    for predicate_type, predicate in statements:
        statement = {
            "_type": IN_TOTO_STATEMENT,
            "predicateType": predicate_type,
            "subject": [
                {"name": purl, "digest": {"sha256": subject.manifest.digest[7:]}}
            ],
            "predicate": predicate,
        }
        layers.append(Blob(IN_TOTO, canonical_json(statement)))

    # The attestation's layers are not compressed: each diff_id is the digest.
    config = Blob(
        OCI_CONFIG,
        canonical_json(
            {
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [b.digest for b in layers]},
            }
        ),
    )
    value = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [
            layer.descriptor(annotations={"in-toto.io/predicate-type": predicate_type})
            for layer, (predicate_type, _) in zip(layers, statements, strict=True)
        ],
    }
    annotations = {
        "vnd.docker.reference.digest": subject.manifest.digest,
        "vnd.docker.reference.type": "attestation-manifest",
    }
    return Image(
        Platform("unknown", "unknown"),
        Blob(OCI_MANIFEST, canonical_json(value)),
        config,
        tuple(layers),
        annotations,
    )


@dataclass(frozen=True)
class RepositoryPlan:
    """What to push to one repository: images, attestations and the tagged top."""

    name: str
    tags: tuple[str, ...]
    top: Blob
    images: tuple[Image, ...]
    attestations: tuple[Image, ...] = ()

    @property
    def blobs(self) -> list[Blob]:
        unique: dict[str, Blob] = {}
        for image in (*self.images, *self.attestations):
            for blob in image.blobs:
                unique.setdefault(blob.digest, blob)
        return list(unique.values())

    @property
    def children(self) -> list[Blob]:
        """Manifests the top one references; they must be pushed before it."""
        manifests = [image.manifest for image in (*self.images, *self.attestations)]
        return [m for m in manifests if m.digest != self.top.digest]

    def describe(self) -> dict[str, Any]:
        top = {"media_type": self.top.media_type, "digest": self.top.digest}
        return {
            "tags": {tag: dict(top) for tag in self.tags},
            "manifests": {
                blob.digest: blob.media_type for blob in (*self.children, self.top)
            },
            "platforms": [_describe_image(image) for image in self.images],
            "attestations": [
                {
                    **_describe_image(image),
                    "subject": image.annotations["vnd.docker.reference.digest"],
                    "predicate_types": [
                        json.loads(layer.data)["predicateType"]
                        for layer in image.layers
                    ],
                }
                for image in self.attestations
            ],
        }


def _describe_image(image: Image) -> dict[str, Any]:
    return {
        "os": image.platform.os,
        "architecture": image.platform.architecture,
        "variant": image.platform.variant,
        "manifest_digest": image.manifest.digest,
        "manifest_media_type": image.manifest.media_type,
        "manifest_size": image.manifest.size,
        "config_digest": image.config.digest,
        "config_media_type": image.config.media_type,
        "config_size": image.config.size,
        "layers": [
            {"digest": b.digest, "size": b.size, "media_type": b.media_type}
            for b in image.layers
        ],
        "annotations": dict(image.annotations),
    }


# The content itself. Base layers differ per architecture; the "libs" layer
# and each application layer are the same bytes wherever they are used, so
# images built on the same base share blob digests as real ones do.

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")
ARMV7 = Platform("linux", "arm", "v7")

#: A made-up but well-formed digest: the fixture has no real alpine image.
ALPINE_DIGEST = sha256_digest(b"standin: docker.io/library/alpine:3.20 index")


def base_layer(architecture: str) -> Layer:
    files = {
        "etc/os-release": f"NAME=standin\nVERSION_ID=3.20\nARCH={architecture}\n",
        "bin/sh": f"#!/standin/{architecture}/sh\n",
    }
    encoded = {name: text.encode() for name, text in files.items()}
    return tar_gzip_layer(encoded, f"ADD rootfs-{architecture}.tar.gz / # buildkit")


def libs_layer() -> Layer:
    files = {"usr/lib/libstandin.so.1": b"standin shared library\n" * 8}
    return tar_gzip_layer(files, "RUN apk add --no-cache libstandin # buildkit")


def app_layer(name: str) -> Layer:
    files = {f"app/{name}.sh": f"#!/bin/sh\necho {name}\n".encode()}
    return tar_gzip_layer(files, f"COPY {name}.sh /app/ # buildkit")


def _sbom(image: Image) -> dict[str, Any]:
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"sbom-{image.platform.architecture}",
        "packages": [
            {
                "SPDXID": "SPDXRef-Package-standin",
                "name": "standin",
                "versionInfo": "1.0",
            }
        ],
    }


def _provenance(repository: str) -> dict[str, Any]:
    return {
        "builder": {"id": "https://standin.test/builder"},
        "buildType": "https://mobyproject.org/buildkit@v1",
        "invocation": {"configSource": {"entryPoint": "Dockerfile"}},
        "metadata": {
            "buildStartedOn": FIXED_CREATED,
            "buildFinishedOn": FIXED_CREATED,
            "https://mobyproject.org/buildkit@v1#metadata": {
                "vcs": {"source": repository}
            },
        },
    }


def multi_plan() -> RepositoryPlan:
    name = "testorg/multi"
    recipe = Recipe(
        cmd=("--help",),
        entrypoint=("/app/multi.sh",),
        labels={"org.opencontainers.image.title": "multi"},
        workdir="/app",
    )
    base = {
        "org.opencontainers.image.base.name": "docker.io/library/alpine:3.20",
        "org.opencontainers.image.base.digest": ALPINE_DIGEST,
    }
    amd64 = build_image(
        OCI, AMD64, [base_layer("amd64"), app_layer("multi")], recipe, base
    )
    arm64 = build_image(OCI, ARM64, [base_layer("arm64"), app_layer("multi")], recipe)
    attestations = (
        attestation_image(
            name,
            amd64,
            [(SPDX_PREDICATE, _sbom(amd64)), (SLSA_PREDICATE, _provenance(name))],
        ),
        attestation_image(name, arm64, [(SLSA_PREDICATE, _provenance(name))]),
    )
    top = image_index(OCI, [amd64, arm64], attestations)
    return RepositoryPlan(name, ("latest", "1.0"), top, (amd64, arm64), attestations)


def legacy_plan() -> RepositoryPlan:
    recipe = Recipe(env=("PATH=/usr/bin:/bin", "LEGACY=1"))
    amd64 = build_image(DOCKER, AMD64, [base_layer("amd64"), libs_layer()], recipe)
    armv7 = build_image(DOCKER, ARMV7, [base_layer("arm")], recipe)
    top = image_index(DOCKER, [amd64, armv7])
    return RepositoryPlan("testorg/legacy", ("2.0",), top, (amd64, armv7))


def single_image_plan(
    name: str, tag: str, family: Family, layers: Sequence[Layer], recipe: Recipe
) -> RepositoryPlan:
    image = build_image(family, AMD64, layers, recipe)
    return RepositoryPlan(name, (tag,), image.manifest, (image,))


def fixture_plans() -> list[RepositoryPlan]:
    """Every repository ``push_fixture()`` pushes, in push order."""
    shared = [base_layer("amd64"), libs_layer()]
    return [
        multi_plan(),
        legacy_plan(),
        single_image_plan(
            "testorg/single",
            "latest",
            DOCKER,
            [base_layer("amd64"), app_layer("single")],
            Recipe(labels={"maintainer": "standin"}),
        ),
        single_image_plan("testorg/base", "1", OCI, shared, Recipe()),
        single_image_plan(
            "testorg/app-a",
            "1",
            OCI,
            [*shared, app_layer("a")],
            Recipe(cmd=("/app/a.sh",)),
        ),
        single_image_plan(
            "testorg/app-b",
            "1",
            OCI,
            [*shared, app_layer("b")],
            Recipe(cmd=("/app/b.sh",)),
        ),
    ]


class PushTarget(Protocol):
    """A registry to push to: ``LocalRegistry`` is one."""

    registry_url: str

    def push_token(self, repository: str) -> str: ...


class PushError(RuntimeError):
    """The registry refused a step of a push."""


class RepositoryPusher:
    """Pushes blobs and manifests to one repository with one push token."""

    def __init__(self, registry_url: str, repository: str, token: str) -> None:
        self.base = f"{registry_url}/v2/{repository}"
        self.repository = repository
        self.token = token

    def _send(
        self,
        method: str,
        url: str,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> tuple[int, Message[str, str]]:
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if content_type is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers
        except urllib.error.HTTPError as exc:
            with exc:
                body = exc.read().decode(errors="replace")
            if method == "HEAD" and exc.code == 404:
                return exc.code, exc.headers
            raise PushError(f"{method} {url} answered {exc.code}: {body}") from exc

    def has_blob(self, blob: Blob) -> bool:
        status, _ = self._send("HEAD", f"{self.base}/blobs/{blob.digest}")
        return status == 200

    def push_blob(self, blob: Blob) -> None:
        """Upload ``blob`` monolithically: POST for a session, PUT with the digest."""
        if self.has_blob(blob):
            return
        _, headers = self._send("POST", f"{self.base}/blobs/uploads/")
        location = headers.get("Location")
        if not location:
            raise PushError(f"upload to {self.repository} started without a Location")
        location = urljoin(self.base, location)
        separator = "&" if "?" in location else "?"
        url = f"{location}{separator}digest={quote(blob.digest)}"
        self._send("PUT", url, blob.data, "application/octet-stream")

    def push_manifest(self, reference: str, manifest: Blob) -> None:
        url = f"{self.base}/manifests/{reference}"
        _, headers = self._send("PUT", url, manifest.data, manifest.media_type)
        stored = headers.get("Docker-Content-Digest")
        if stored != manifest.digest:
            raise PushError(
                f"{self.repository}:{reference} stored as {stored}, "
                f"expected {manifest.digest}"
            )


def push_repository(target: PushTarget, plan: RepositoryPlan) -> None:
    pusher = RepositoryPusher(
        target.registry_url, plan.name, target.push_token(plan.name)
    )
    for blob in plan.blobs:
        pusher.push_blob(blob)
    # distribution refuses an index whose manifests it does not hold yet.
    for manifest in plan.children:
        pusher.push_manifest(manifest.digest, manifest)
    for tag in plan.tags:
        pusher.push_manifest(tag, plan.top)
    logger.debug(
        "pushed %(repository)s:%(tags)s as %(digest)s",
        {
            "repository": plan.name,
            "tags": ",".join(plan.tags),
            "digest": plan.top.digest,
        },
    )


def push_fixture(
    target: PushTarget, plans: Iterable[RepositoryPlan] | None = None
) -> dict[str, Any]:
    """Push the test images and describe them.

    The answer is ``{"registry": URL, "repositories": {NAME: {...}}}``; per
    repository: ``tags`` (tag → ``media_type`` and ``digest`` of the tagged
    manifest), ``manifests`` (every digest pushed → media type),
    ``platforms`` (os, architecture, variant, manifest, config and layers
    base-first with sizes) and ``attestations`` (the same plus ``subject``
    and ``predicate_types``).
    """
    repositories = {}
    for plan in fixture_plans() if plans is None else plans:
        push_repository(target, plan)
        repositories[plan.name] = plan.describe()
    return {"registry": target.registry_url, "repositories": repositories}
