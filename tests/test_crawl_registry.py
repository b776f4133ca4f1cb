"""Crawls that go on from tags to the real registry (CNCF distribution with
token authentication) and to the fake one for what it cannot show."""

import json
import re

import pytest

from standin.process import StandIn
from standin.registry.certs import make_signing_cert
from standin.registry.fake import FakeRegistry
from tests import worlds
from tests.registry_worlds import hub_world_for_fake, hub_world_from_push


@pytest.fixture
def registry_crawl(hub, crawl, registry):
    """Crawl the testorg namespace with the registry stand-in behind it."""
    hub.control("PUT", "/_standin/world", hub_world_from_push(registry.pushed))

    def run(*arguments, settings=None, **kwargs):
        merged = {
            "DOCKERHUB_REGISTRY_URL": registry.registry_url,
            "DOCKERHUB_AUTH_URL": registry.auth_url,
            **(settings or {}),
        }
        return crawl("org", "org=testorg", *arguments, settings=merged, **kwargs)

    return run


def distinct_platform_manifests(pushed):
    return {
        platform["manifest_digest"]
        for content in pushed["repositories"].values()
        for platform in content["platforms"]
    }


def test_layers_are_stored_base_first_for_every_platform(registry_crawl, registry):
    result = registry_crawl("layers=true")
    assert result.returncode == 0, result.log
    pushed = registry.pushed["repositories"]
    for name, content in pushed.items():
        for platform in content["platforms"]:
            rows = result.rows(
                "SELECT DISTINCT layer_index, digest, size_bytes FROM image_layers "
                "WHERE repo_name = ? AND architecture = ? AND variant IS ? "
                "ORDER BY layer_index",
                name,
                platform["architecture"],
                platform["variant"],
            )
            expected = [
                (index, layer["digest"], layer["size"])
                for index, layer in enumerate(platform["layers"])
            ]
            assert rows == expected, (name, platform["architecture"])


def test_one_manifest_get_per_distinct_platform_manifest(registry_crawl, registry):
    result = registry_crawl("layers=true")
    expected = len(distinct_platform_manifests(registry.pushed))
    stats = result.stats()
    # testorg/multi has two tags on one index: its platforms are fetched once.
    assert stats["dockerhub/registry/manifest_get"] == expected
    assert result.rows("SELECT manifest_gets FROM crawl_runs") == [(expected,)]
    assert result.rows("SELECT count(*) FROM manifests") == [(expected,)]


def test_a_second_crawl_of_an_unchanged_namespace_makes_no_manifest_get(
    registry_crawl,
):
    first = registry_crawl("layers=true").stats()["dockerhub/registry/manifest_get"]
    assert first > 0
    second = registry_crawl("layers=true")
    assert second.returncode == 0
    assert "dockerhub/registry/manifest_get" not in second.stats()
    assert second.rows("SELECT manifest_gets FROM crawl_runs ORDER BY id") == [
        (first,),
        (0,),
    ]


def test_attestations_are_never_stored_as_platforms(registry_crawl):
    result = registry_crawl("layers=true", "attestations=true")
    assert result.rows(
        "SELECT DISTINCT os, architecture, variant FROM images "
        "WHERE repo_name = 'testorg/multi' ORDER BY architecture"
    ) == [("linux", "amd64", None), ("linux", "arm64", "v8")]
    assert result.rows("SELECT count(*) FROM images WHERE os = 'unknown'") == [(0,)]
    assert result.rows(
        "SELECT DISTINCT architecture, has_sbom, has_provenance FROM images "
        "WHERE repo_name = 'testorg/multi' ORDER BY architecture"
    ) == [("amd64", 1, 1), ("arm64", 0, 1)]
    assert result.rows(
        "SELECT has_sbom, has_provenance FROM images WHERE repo_name = 'testorg/single'"
    ) == [(None, None)]


def test_attestation_manifests_are_not_fetched_unless_asked(registry_crawl):
    result = registry_crawl("layers=true")
    assert result.rows("SELECT count(*) FROM manifests WHERE kind = 'attestation'") == [
        (0,)
    ]
    assert result.rows("SELECT count(*) FROM manifests WHERE kind = 'index'") == [(0,)]


def test_config_brings_created_labels_history_and_base_annotations(
    registry_crawl, registry
):
    result = registry_crawl("config=true")
    assert result.returncode == 0, result.log
    configs = {
        platform["config_digest"]
        for content in registry.pushed["repositories"].values()
        for platform in content["platforms"]
    }
    assert result.rows("SELECT count(*) FROM image_configs") == [(len(configs),)]
    [(created, base_name, base_digest)] = result.rows(
        "SELECT DISTINCT created, base_name, base_digest FROM images "
        "WHERE repo_name = 'testorg/multi' AND architecture = 'amd64'"
    )
    assert created and created.startswith("20")
    assert base_name == "docker.io/library/alpine:3.20"
    assert base_digest.startswith("sha256:")
    [(history, env)] = result.rows(
        "SELECT c.history, c.env FROM image_configs c JOIN images i "
        "ON i.config_digest = c.digest WHERE i.repo_name = 'testorg/single'"
    )
    assert "created_by" in history
    assert "PATH=" in env


def test_platforms_argument_limits_what_is_fetched(registry_crawl):
    result = registry_crawl("layers=true", "platforms=linux/arm64")
    assert result.rows("SELECT DISTINCT architecture FROM manifests") == [("arm64",)]


def test_tags_without_hub_digests_are_resolved_with_a_head_first(hub, crawl, registry):
    world = hub_world_from_push(registry.pushed, hide_digests={"testorg/legacy"})
    hub.control("PUT", "/_standin/world", world)
    result = crawl(
        "repo",
        "repos=testorg/legacy",
        "layers=true",
        settings={
            "DOCKERHUB_REGISTRY_URL": registry.registry_url,
            "DOCKERHUB_AUTH_URL": registry.auth_url,
        },
    )
    assert result.returncode == 0, result.log
    legacy = registry.pushed["repositories"]["testorg/legacy"]
    assert result.rows("SELECT digest, media_type FROM tag_manifests") == [
        (legacy["tags"]["2.0"]["digest"], legacy["tags"]["2.0"]["media_type"])
    ]
    assert result.rows(
        "SELECT architecture, variant, source FROM images ORDER BY architecture"
    ) == [("amd64", None, "registry"), ("arm", "v7", "registry")]
    # The index and its two platform manifests; the HEAD cost nothing.
    assert result.stats()["dockerhub/registry/manifest_get"] == 3
    assert result.rows("SELECT count(*) FROM image_layers") == [(3,)]


def test_one_token_per_repository_scope_and_none_in_the_log(registry_crawl, registry):
    before = registry.token_stats()["requests"]
    result = registry_crawl("layers=true", settings={"LOG_LEVEL": "DEBUG"})
    tokens = registry.token_stats()["requests"] - before
    assert tokens == len(registry.pushed["repositories"])
    assert result.stats()["dockerhub/registry/token_requests"] == tokens
    assert not re.search(r"eyJ[\w-]{10,}\.[\w-]{10,}", result.log)


def test_wrong_credentials_end_the_crawl_with_a_clear_reason(registry_crawl, registry):
    result = registry_crawl(
        "layers=true",
        settings={
            "DOCKERHUB_USERNAME": registry.user[0],
            "DOCKERHUB_TOKEN": "wrong-pw",
        },
    )
    assert "rejected DOCKERHUB_USERNAME and DOCKERHUB_TOKEN" in result.log
    assert result.stats()["finish_reason"] == "registry_credentials_rejected"
    assert "wrong-pw" not in result.log
    assert "dockerhub/registry/manifest_get" not in result.stats()


def test_right_credentials_are_sent_to_the_token_service(registry_crawl, registry):
    before = registry.token_stats()
    user, password = registry.user
    result = registry_crawl(
        "layers=true",
        settings={"DOCKERHUB_USERNAME": user, "DOCKERHUB_TOKEN": password},
    )
    after = registry.token_stats()
    assert result.returncode == 0
    assert after["authorized"] - before["authorized"] > 0
    assert after["anonymous"] == before["anonymous"]
    assert password not in result.log


def test_credentials_never_go_to_a_realm_on_another_host(registry_crawl, registry):
    before = registry.token_stats()
    user, password = registry.user
    result = registry_crawl(
        "layers=true",
        settings={
            "DOCKERHUB_AUTH_URL": "https://auth.docker.io/token",
            "DOCKERHUB_USERNAME": user,
            "DOCKERHUB_TOKEN": password,
        },
    )
    after = registry.token_stats()
    assert after["authorized"] == before["authorized"]
    assert after["anonymous"] > before["anonymous"]
    assert "not DOCKERHUB_AUTH_URL's host; asking it anonymously" in result.log
    assert result.rows("SELECT count(*) FROM manifests") != [(0,)]


# -- the fake registry: what distribution cannot show ------------------------


@pytest.fixture
def fake_crawl(hub, crawl, fake_registry):
    hub.control("PUT", "/_standin/world", hub_world_for_fake())

    def run(repos, *arguments):
        return crawl(
            "repo",
            f"repos={repos}",
            *arguments,
            settings={
                "DOCKERHUB_REGISTRY_URL": fake_registry.url,
                "DOCKERHUB_AUTH_URL": fake_registry.realm,
            },
        )

    return run


def test_schema1_layers_are_stored_base_first(fake_crawl, fake_registry):
    result = fake_crawl("legacy/old", "layers=true")
    assert result.returncode == 0, result.log
    [(digest,)] = result.rows("SELECT digest FROM tag_manifests")
    body = fake_registry.data["manifests"]["legacy/old"]["manifests"][digest]["body"]
    newest_first = [entry["blobSum"] for entry in json.loads(body)["fsLayers"]]
    rows = result.rows("SELECT layer_index, digest FROM image_layers ORDER BY 1")
    assert rows == list(enumerate(reversed(newest_first)))
    [(kind, created)] = result.rows("SELECT kind, created FROM manifests")
    assert kind == "schema1"
    assert created


def test_windows_foreign_layers_keep_their_urls(fake_crawl):
    result = fake_crawl("win/servercore", "layers=true")
    rows = result.rows(
        "SELECT DISTINCT i.os_version, l.media_type, ml.urls FROM image_layers l "
        "JOIN images i ON i.repo_name = l.repo_name AND i.tag_name = l.tag_name "
        "AND i.os_version IS NOT NULL "
        "JOIN manifest_layers ml ON ml.digest = l.digest AND ml.layer_index = 0 "
        "WHERE l.layer_index = 0 ORDER BY 1"
    )
    assert len({row[0] for row in rows}) == 2
    assert {row[1] for row in rows} == {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    }
    assert all(row[2] != "[]" for row in rows)


def test_config_blobs_follow_the_cdn_redirect_without_the_token(
    fake_crawl, fake_registry
):
    result = fake_crawl("library/hello", "config=true")
    assert result.returncode == 0, result.log
    stats = fake_registry.stats()
    assert stats["cdn_get"] >= 1
    assert stats["cdn_rejected_auth"] == 0
    assert result.rows("SELECT count(*) FROM image_configs") != [(0,)]
    assert result.rows("SELECT count(*) FROM images WHERE created IS NOT NULL") != [
        (0,)
    ]


def test_a_token_without_access_is_refreshed_once_then_the_request_fails(
    hub, crawl, fake_registry
):
    world = hub_world_for_fake()
    private = worlds.repository("private", "thing", [worlds.tag("private/thing", "1")])
    world["repositories"].append(private)
    hub.control("PUT", "/_standin/world", world)
    result = crawl(
        "repo",
        "repos=private/thing",
        "layers=true",
        settings={
            "DOCKERHUB_REGISTRY_URL": fake_registry.url,
            "DOCKERHUB_AUTH_URL": fake_registry.realm,
        },
    )
    assert result.returncode == 0
    assert "refused a fresh token for repository:private/thing:pull twice" in result.log
    stats = result.stats()
    assert stats["dockerhub/registry/token_refreshed"] >= 1
    assert stats["dockerhub/registry/token_rejected"] >= 1


def test_an_expired_token_is_refreshed_once_and_the_crawl_completes(
    hub, crawl, tmp_path
):
    # A token service that hides expires_in (so the crawler assumes the
    # default 60 s) while its tokens really expire after 3 s: the registry
    # then refuses a cached token, and the crawler must fetch a fresh one.
    key, cert = make_signing_cert(tmp_path)
    tokens = StandIn(
        "standin.registry.tokens",
        "--key", str(key),
        "--cert", str(cert),
        "--issuer", "expiring",
        "--expires-in", "3",
        "--omit-expires-in",
    )  # fmt: skip
    with tokens, FakeRegistry(realm=f"{tokens.url}/token") as fake:
        hub.control("PUT", "/_standin/world", hub_world_for_fake())
        result = crawl(
            "repo",
            "repos=win/servercore",
            "layers=true",
            settings={
                "DOCKERHUB_REGISTRY_URL": fake.url,
                "DOCKERHUB_AUTH_URL": f"{tokens.url}/token",
                # One registry request at a time, 1.8 s apart: a replay
                # comes before its fresh token expires (JWT expiry is in
                # whole seconds, so after 2 to 3 s), the next request after.
                "DOWNLOAD_DELAY": 1.8,
                "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
                "RANDOMIZE_DOWNLOAD_DELAY": False,
            },
        )
    assert result.returncode == 0, result.log
    stats = result.stats()
    assert stats["dockerhub/registry/token_refreshed"] >= 1
    assert "dockerhub/registry/token_rejected" not in stats
    assert "dockerhub/registry/request_failed" not in stats
    # The manifest list and its two Windows platform manifests.
    assert result.rows("SELECT kind, count(*) FROM manifests GROUP BY 1") == [
        ("image", 2),
        ("index", 1),
    ]
