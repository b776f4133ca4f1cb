"""The data file the fake registry serves by default, built from scratch.

``fixture_data()`` returns the standard content (see its docstring) in the
shape ``standin.registry.fake`` reads: layers are real gzip tars, base64 in
the file; configs and manifests are text. Schema 1 manifests are signed the
way libtrust signs them, with a fixed key, by ``sign_schema1()``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .push import (
    DOCKER,
    DOCKER_CONFIG,
    DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    FIXED_CREATED,
    SCHEMA1_SIGNED,
    Blob,
    Image,
    Layer,
    Platform,
    Recipe,
    app_layer,
    base_layer,
    build_image,
    canonical_json,
    image_config,
    image_index,
    sha256_digest,
    tar_gzip_layer,
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _schema1_key() -> ec.EllipticCurvePrivateKey:
    # A fixed key, so every build signs with the same ``kid``; ECDSA still
    # makes each signature differ, which schema 1 allows: the digest covers
    # the payload without its signatures.
    seed = hashlib.sha256(b"standin schema 1 signing key").digest()
    return ec.derive_private_key(int.from_bytes(seed, "big"), ec.SECP256R1())


def _libtrust_kid(key: ec.EllipticCurvePublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def sign_schema1(manifest: Mapping[str, Any]) -> tuple[str, str]:
    """Sign a schema 1 manifest the way libtrust does; return (body, digest).

    The body is the pretty-printed payload with a ``signatures`` member
    spliced in before its closing brace; the digest is that of the payload
    alone, which is what ``Docker-Content-Digest`` names for schema 1.
    """
    payload = json.dumps(manifest, indent=3).encode()
    format_length = payload.rindex(b"\n}")
    protected = _b64url(
        json.dumps(
            {
                "formatLength": format_length,
                "formatTail": _b64url(payload[format_length:]),
                "time": FIXED_CREATED,
            },
            separators=(",", ":"),
        ).encode()
    )
    key = _schema1_key()
    signing_input = f"{protected}.{_b64url(payload)}".encode()
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    numbers = key.public_key().public_numbers()
    signature = {
        "header": {
            "jwk": {
                "crv": "P-256",
                "kid": _libtrust_kid(key.public_key()),
                "kty": "EC",
                "x": _b64url(numbers.x.to_bytes(32, "big")),
                "y": _b64url(numbers.y.to_bytes(32, "big")),
            },
            "alg": "ES256",
        },
        "signature": _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
        "protected": protected,
    }
    signatures = json.dumps([signature], indent=3).replace("\n", "\n   ")
    body = (
        payload[:format_length].decode()
        + f',\n   "signatures": {signatures}'
        + payload[format_length:].decode()
    )
    return body, sha256_digest(payload)


class _DataBuilder:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {"manifests": {}, "blobs": {}}

    def blob(self, data: bytes, *, text: bool = False) -> str:
        digest = sha256_digest(data)
        self.data["blobs"][digest] = (
            data.decode() if text else {"base64": base64.b64encode(data).decode()}
        )
        return digest

    def manifest(
        self,
        repository: str,
        media_type: str,
        body: str,
        digest: str,
        tags: Sequence[str] = (),
    ) -> None:
        entry = self.data["manifests"].setdefault(
            repository, {"tags": {}, "manifests": {}}
        )
        entry["manifests"][digest] = {"media_type": media_type, "body": body}
        for tag in tags:
            entry["tags"][tag] = digest

    def image(self, repository: str, image: Image) -> None:
        self.blob(image.config.data, text=True)
        for layer in image.layers:
            self.blob(layer.data)
        manifest = image.manifest
        self.manifest(
            repository, manifest.media_type, manifest.data.decode(), manifest.digest
        )

    def manifest_list(self, repository: str, images: Sequence[Image], tag: str) -> None:
        """``images`` and a Docker manifest list of them, tagged ``tag``."""
        for image in images:
            self.image(repository, image)
        index = image_index(DOCKER, images)
        self.manifest(repository, DOCKER_LIST, index.data.decode(), index.digest, [tag])


def _add_schema1(builder: _DataBuilder) -> None:
    commands = [
        "/bin/sh -c #(nop) ADD file:4b03b5f551e3fbdf47ec6097 in / ",
        "/bin/sh -c apk add --no-cache curl",
        "/bin/sh -c #(nop) COPY file:0d6ec3e1b3b4a6b1 in /usr/local/bin/ ",
    ]
    layers = [
        tar_gzip_layer(
            {f"layer{i}/file.txt": f"schema 1 layer {i}\n".encode()}, command
        )
        for i, command in enumerate(commands)
    ]
    # v1Compatibility ids chain each layer to its parent, oldest first.
    entries: list[dict[str, Any]] = []
    parent = ""
    for i, (layer, command) in enumerate(zip(layers, commands, strict=True)):
        layer_id = hashlib.sha256(
            f"{parent}|{sha256_digest(layer.data)}".encode()
        ).hexdigest()
        entry: dict[str, Any] = {"id": layer_id}
        if parent:
            entry["parent"] = parent
        entry["created"] = f"2016-0{i + 1}-15T10:00:00.000000000Z"
        entry["container_config"] = {"Cmd": [command]}
        entries.append(entry)
        parent = layer_id
    entries[-1].update(
        {
            "architecture": "amd64",
            "os": "linux",
            "docker_version": "1.12.6",
            "config": {
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                "Cmd": ["/bin/sh"],
            },
        }
    )

    manifest = {
        "schemaVersion": 1,
        "name": "legacy/old",
        "tag": "1",
        "architecture": "amd64",
        # Schema 1 lists layers newest first, unlike every later format.
        "fsLayers": [
            {"blobSum": builder.blob(layer.data)} for layer in reversed(layers)
        ],
        "history": [
            {"v1Compatibility": json.dumps(entry, separators=(",", ":"))}
            for entry in reversed(entries)
        ],
    }
    body, digest = sign_schema1(manifest)
    builder.manifest("legacy/old", SCHEMA1_SIGNED, body, digest, ["1"])


def _windows_image(os_version: str, update: Layer) -> Image:
    platform = Platform("windows", "amd64", os_version=os_version)
    # The base layer lives on Microsoft's servers, not in the registry: it is
    # named by URL and its blob is deliberately absent from the data file.
    foreign_digest = sha256_digest(f"windows servercore base {os_version}".encode())
    foreign = {
        "mediaType": DOCKER_FOREIGN_LAYER,
        "size": 1_502_000_000 + int(os_version.rsplit(".", 1)[1]),
        "digest": foreign_digest,
        "urls": [
            f"https://mcr.microsoft.com/v2/windows/servercore/blobs/{foreign_digest}"
        ],
    }
    # Only the config needs the foreign layer's diff_id; no bytes are made.
    base_diff_id = sha256_digest(f"diff {os_version}".encode())
    base = Layer(b"", base_diff_id, f"Apply image {os_version}")
    recipe = Recipe(cmd=("cmd", "/S", "/C"), workdir="C:\\")
    config = image_config(platform, [base, update], recipe)
    config = Blob(DOCKER_CONFIG, config.data)
    layer = Blob(DOCKER_LAYER, update.data)
    value = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config.descriptor(),
        "layers": [foreign, layer.descriptor()],
    }
    manifest = Blob(DOCKER_MANIFEST, canonical_json(value))
    return Image(platform, manifest, config, (layer,))


def _add_windows(builder: _DataBuilder) -> None:
    update = tar_gzip_layer(
        {"Files/standin.txt": b"windows update\n"}, "cmd /S /C echo"
    )
    images = [_windows_image(v, update) for v in ("10.0.17763.5576", "10.0.20348.2340")]
    builder.manifest_list("win/servercore", images, "ltsc")


def _add_manifest_list(builder: _DataBuilder) -> None:
    images = [
        build_image(
            DOCKER,
            platform,
            [base_layer(arch), app_layer("hello")],
            Recipe(cmd=("/app/hello.sh",)),
        )
        for platform, arch in (
            (Platform("linux", "amd64"), "amd64"),
            (Platform("linux", "arm64", "v8"), "arm64"),
        )
    ]
    builder.manifest_list("library/hello", images, "latest")


def fixture_data() -> dict[str, Any]:
    """The standard data: ``legacy/old:1`` (schema 1, three layers),
    ``win/servercore:ltsc`` (a manifest list of two Windows versions whose
    base layer is foreign) and ``library/hello:latest`` (a Docker manifest
    list for linux/amd64 and linux/arm64/v8 with configs and layers)."""
    builder = _DataBuilder()
    _add_schema1(builder)
    _add_windows(builder)
    _add_manifest_list(builder)
    return builder.data


def write_fixture_data(path: str | Path) -> dict[str, Any]:
    """Write ``fixture_data()`` to ``path`` as a data file; return the data."""
    data = fixture_data()
    Path(path).write_text(json.dumps(data, indent=1))
    return data
