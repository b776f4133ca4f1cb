import json

import pytest

from dockerhub.parsing import manifests as m


def body(data):
    return json.dumps(data).encode()


def test_an_oci_index_separates_platforms_from_attestations():
    index = {
        "schemaVersion": 2,
        "mediaType": m.OCI_INDEX,
        "manifests": [
            {
                "mediaType": m.OCI_MANIFEST,
                "digest": "sha256:amd",
                "size": 10,
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            {
                "mediaType": m.OCI_MANIFEST,
                "digest": "sha256:arm",
                "size": 11,
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
            {
                "mediaType": m.OCI_MANIFEST,
                "digest": "sha256:att",
                "size": 12,
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {
                    m.REFERENCE_TYPE: "attestation-manifest",
                    m.REFERENCE_DIGEST: "sha256:amd",
                },
            },
        ],
    }
    parsed = m.parse_manifest(body(index), None, "sha256:index")
    assert parsed.kind == "index"
    assert [c.platform.key() for c in parsed.platforms] == [
        "linux/amd64",
        "linux/arm64/v8",
    ]
    assert [(c.digest, c.attests) for c in parsed.attestations] == [
        ("sha256:att", "sha256:amd")
    ]


def test_a_docker_manifest_list_is_an_index_too():
    listing = {"schemaVersion": 2, "mediaType": m.DOCKER_LIST, "manifests": []}
    assert m.parse_manifest(body(listing), None, "sha256:x").kind == "index"


def test_an_image_manifest_keeps_layer_order_sizes_and_base_annotations():
    manifest = {
        "schemaVersion": 2,
        "mediaType": m.DOCKER_MANIFEST,
        "config": {"digest": "sha256:cfg", "size": 5},
        "layers": [
            {"mediaType": "a", "digest": "sha256:base", "size": 100},
            {"mediaType": "b", "digest": "sha256:top", "size": 7},
        ],
        "annotations": {
            m.BASE_NAME: "docker.io/library/alpine:3",
            m.BASE_DIGEST: "sha256:b",
        },
    }
    parsed = m.parse_manifest(body(manifest), None, "sha256:img")
    assert parsed.kind == "image"
    assert parsed.config_digest == "sha256:cfg"
    assert [(layer.digest, layer.size) for layer in parsed.layers] == [
        ("sha256:base", 100),
        ("sha256:top", 7),
    ]
    item = m.manifest_item(parsed, "a/b", {"os": "linux", "architecture": "amd64"})
    assert (item.base_name, item.base_digest) == (
        "docker.io/library/alpine:3",
        "sha256:b",
    )
    assert (item.os, item.architecture) == ("linux", "amd64")


def test_schema1_layers_come_out_base_first():
    manifest = {
        "schemaVersion": 1,
        "name": "legacy/old",
        "tag": "1",
        "architecture": "amd64",
        "fsLayers": [
            {"blobSum": "sha256:newest"},
            {"blobSum": "sha256:middle"},
            {"blobSum": "sha256:base"},
        ],
        "history": [
            {
                "v1Compatibility": json.dumps(
                    {"created": "2015-01-01T00:00:00Z", "os": "linux"}
                )
            }
        ],
    }
    parsed = m.parse_manifest(body(manifest), m.SCHEMA1_SIGNED, "sha256:s1")
    assert parsed.kind == "schema1"
    assert [layer.digest for layer in parsed.layers] == [
        "sha256:base",
        "sha256:middle",
        "sha256:newest",
    ]
    assert parsed.created == "2015-01-01T00:00:00Z"
    assert parsed.platform.key() == "linux/amd64"


def test_windows_foreign_layers_keep_their_urls():
    manifest = {
        "schemaVersion": 2,
        "mediaType": m.DOCKER_MANIFEST,
        "config": {"digest": "sha256:cfg", "size": 5},
        "layers": [
            {
                "mediaType": m.FOREIGN_LAYER,
                "digest": "sha256:win",
                "size": 10**9,
                "urls": ["https://mcr.microsoft.com/v2/windows/blobs/sha256:win"],
            }
        ],
    }
    [layer] = m.parse_manifest(body(manifest), None, "sha256:w").layers
    assert layer.media_type == m.FOREIGN_LAYER
    assert layer.urls == ["https://mcr.microsoft.com/v2/windows/blobs/sha256:win"]


def test_attestation_manifests_are_recognised_by_their_in_toto_layers():
    manifest = {
        "schemaVersion": 2,
        "mediaType": m.OCI_MANIFEST,
        "config": {"digest": "sha256:cfg", "size": 5},
        "layers": [
            {
                "mediaType": m.IN_TOTO,
                "digest": "sha256:sbom",
                "size": 3,
                "annotations": {m.PREDICATE_TYPE: "https://spdx.dev/Document"},
            }
        ],
    }
    parsed = m.parse_manifest(body(manifest), None, "sha256:a")
    assert parsed.kind == "attestation"
    assert parsed.layers[0].predicate_type == "https://spdx.dev/Document"


def test_a_config_blob_gives_created_env_history_and_labels():
    config = {
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.20348.2340",
        "created": "2026-01-02T03:04:05Z",
        "config": {
            "Env": ["PATH=/bin"],
            "Cmd": ["sh"],
            "Entrypoint": None,
            "Labels": {"maintainer": "me"},
            "WorkingDir": "/app",
        },
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "ADD rootfs /"}],
        "rootfs": {"type": "layers", "diff_ids": ["sha256:d"]},
    }
    parsed = m.parse_config(body(config), "sha256:c")
    assert parsed.created == "2026-01-02T03:04:05Z"
    assert parsed.os_version == "10.0.20348.2340"
    assert parsed.env == ["PATH=/bin"]
    assert parsed.entrypoint is None
    assert parsed.cmd == ["sh"]
    assert parsed.labels == {"maintainer": "me"}
    assert parsed.history[0]["created_by"] == "ADD rootfs /"
    assert parsed.diff_ids == ["sha256:d"]


@pytest.mark.parametrize("text", [b"<html>", b"[1]", b'{"schemaVersion": 2}'])
def test_bodies_that_are_no_manifest_raise(text):
    with pytest.raises(m.ManifestError):
        m.parse_manifest(text, None, "sha256:x")


def test_accept_lists_every_manifest_type():
    for media_type in (m.OCI_INDEX, m.DOCKER_LIST, m.OCI_MANIFEST, m.DOCKER_MANIFEST):
        assert media_type in m.ACCEPT
    assert m.SCHEMA1_SIGNED in m.ACCEPT
