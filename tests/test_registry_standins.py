"""The registry stand-ins behave like the registries they stand in for.

The real registry is CNCF distribution (``docker-registry``) behind the JWT
token service; the fake imitates registry-1.docker.io where distribution
cannot (schema 1, pull quotas, the CDN redirect).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from email.message import Message
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509

from standin.registry.certs import make_signing_cert
from standin.registry.distribution import LocalRegistry
from standin.registry.fake import FakeRegistry
from standin.registry.push import (
    DOCKER_FOREIGN_LAYER,
    DOCKER_LIST,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    SCHEMA1_SIGNED,
    fixture_plans,
    push_fixture,
)
from standin.registry.tokens import TokenServer, TokenSettings, request_token

ACCEPT_ALL = ", ".join(MANIFEST_TYPES)


class Answer:
    def __init__(self, status: int, headers: Message[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def fetch(
    url: str,
    *,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
) -> Answer:
    """One request, redirects not followed, any status returned as an Answer."""
    request = urllib.request.Request(url, method=method, headers=dict(headers or {}))
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _opener.open(request, timeout=10) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer(exc.code, exc.headers, exc.read())


def challenge(answer: Answer) -> dict[str, str]:
    header = answer.headers["WWW-Authenticate"]
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as local:
        yield local


@pytest.fixture(scope="module")
def pushed(registry: LocalRegistry) -> dict[str, Any]:
    return push_fixture(registry)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeRegistry]:
    with FakeRegistry() as running:
        yield running


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[TokenServer]:
    """An in-process token service with its own certificate and one user."""
    key, cert = make_signing_cert(tmp_path)
    settings = TokenSettings.from_files(
        key, cert, "standin-token-service", users={"alice": "s3cret"}
    )
    server = TokenServer(("127.0.0.1", 0), settings)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


# The real registry


def test_registry_challenges_an_unauthenticated_request_with_the_token_realm(
    registry: LocalRegistry,
) -> None:
    answer = fetch(f"{registry.registry_url}/v2/testorg/multi/manifests/latest")

    assert answer.status == 401
    assert answer.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert challenge(answer) == {
        "realm": registry.auth_url,
        "service": "registry.test",
        "scope": "repository:testorg/multi:pull",
    }


def test_anonymous_token_from_the_realm_pulls_every_pushed_manifest_by_digest(
    registry: LocalRegistry, pushed: dict[str, Any]
) -> None:
    for name, repository in pushed["repositories"].items():
        url = f"{pushed['registry']}/v2/{name}/manifests"
        params = challenge(fetch(f"{url}/latest"))
        answer = request_token(params["realm"], params["service"], [params["scope"]])
        assert answer["expires_in"] == 300

        for digest, media_type in repository["manifests"].items():
            got = fetch(
                f"{url}/{digest}", token=answer["token"], headers={"Accept": ACCEPT_ALL}
            )
            assert got.status == 200, (name, digest, got.body)
            assert got.headers["Content-Type"] == media_type
            assert got.headers["Docker-Content-Digest"] == digest
            assert sha256(got.body) == digest


def test_tags_sharing_a_digest_name_one_index_with_attestations(
    registry: LocalRegistry, pushed: dict[str, Any]
) -> None:
    multi = pushed["repositories"]["testorg/multi"]
    token = registry.token("testorg/multi")
    url = f"{registry.registry_url}/v2/testorg/multi/manifests"
    latest, one = (
        fetch(f"{url}/{tag}", token=token, headers={"Accept": ACCEPT_ALL})
        for tag in ("latest", "1.0")
    )

    assert latest.body == one.body
    assert latest.headers["Content-Type"] == OCI_INDEX
    assert latest.headers["Docker-Content-Digest"] == multi["tags"]["1.0"]["digest"]
    entries = latest.json()["manifests"]
    platforms = [e["platform"] for e in entries]
    assert platforms == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
        {"architecture": "unknown", "os": "unknown"},
        {"architecture": "unknown", "os": "unknown"},
    ]
    subjects = [e["annotations"]["vnd.docker.reference.digest"] for e in entries[2:]]
    assert subjects == [p["manifest_digest"] for p in multi["platforms"]]
    assert [a["predicate_types"] for a in multi["attestations"]] == [
        ["https://spdx.dev/Document", "https://slsa.dev/provenance/v0.2"],
        ["https://slsa.dev/provenance/v0.2"],
    ]


def test_pushed_config_blob_is_a_real_image_config(
    registry: LocalRegistry, pushed: dict[str, Any]
) -> None:
    amd64 = pushed["repositories"]["testorg/multi"]["platforms"][0]
    token = registry.token("testorg/multi")
    url = f"{registry.registry_url}/v2/testorg/multi/blobs/{amd64['config_digest']}"
    config = fetch(url, token=token).json()

    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    assert config["config"]["Entrypoint"] == ["/app/multi.sh"]
    assert len(config["rootfs"]["diff_ids"]) == len(amd64["layers"])
    assert sum(not h.get("empty_layer") for h in config["history"]) == 2
    assert amd64["annotations"]["org.opencontainers.image.base.name"] == (
        "docker.io/library/alpine:3.20"
    )


def test_images_on_one_base_share_their_base_layer_digests(
    pushed: dict[str, Any],
) -> None:
    repositories = pushed["repositories"]
    app_a, app_b, base = (
        [layer["digest"] for layer in repositories[name]["platforms"][0]["layers"]]
        for name in ("testorg/app-a", "testorg/app-b", "testorg/base")
    )

    assert app_a[:2] == app_b[:2] == base
    assert app_a[2] != app_b[2]
    legacy = repositories["testorg/legacy"]
    assert legacy["tags"]["2.0"]["media_type"] == DOCKER_LIST
    assert [p["variant"] for p in legacy["platforms"]] == [None, "v7"]


def test_fixture_content_has_the_same_digests_every_time() -> None:
    first, second = fixture_plans(), fixture_plans()

    assert [p.top.digest for p in first] == [p.top.digest for p in second]


def test_registry_refuses_a_token_signed_by_an_untrusted_certificate(
    registry: LocalRegistry, pushed: dict[str, Any], token_server: TokenServer
) -> None:
    url = f"{token_server.url}/token"
    scope = ["repository:testorg/single:pull"]
    stranger = request_token(url, registry.service, scope)["token"]

    answer = fetch(
        f"{registry.registry_url}/v2/testorg/single/manifests/latest",
        token=stranger,
        headers={"Accept": ACCEPT_ALL},
    )

    assert answer.status == 401
    assert challenge(answer)["error"] == "invalid_token"


def test_anonymous_token_may_pull_but_not_push(registry: LocalRegistry) -> None:
    token = registry.token("testorg/scratch", ("pull", "push"))

    answer = fetch(
        f"{registry.registry_url}/v2/testorg/scratch/blobs/uploads/",
        token=token,
        method="POST",
    )

    assert answer.status == 401
    assert challenge(answer)["error"] == "insufficient_scope"


# The token service


def test_token_is_an_rs256_jwt_with_the_certificate_in_x5c(
    token_server: TokenServer,
) -> None:
    answer = request_token(
        f"{token_server.url}/token",
        "registry.test",
        ["repository:testorg/multi:pull,push"],
        ("alice", "s3cret"),
    )

    header = jwt.get_unverified_header(answer["token"])
    cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    claims = jwt.decode(
        answer["access_token"],
        cert.public_key(),  # type: ignore[arg-type]
        algorithms=["RS256"],
        audience="registry.test",
        issuer="standin-token-service",
    )
    assert claims["sub"] == "alice"
    assert claims["access"] == [
        {"type": "repository", "name": "testorg/multi", "actions": ["pull", "push"]}
    ]
    assert claims["exp"] - claims["iat"] == answer["expires_in"] == 300
    assert answer["issued_at"].endswith("Z")


def test_token_service_refuses_wrong_credentials_and_counts_each_kind(
    token_server: TokenServer,
) -> None:
    url = f"{token_server.url}/token"
    scope = ["repository:testorg/multi:pull,push"]

    with pytest.raises(urllib.error.HTTPError) as refused:
        request_token(url, "registry.test", scope, ("alice", "wrong"))
    with refused.value as error:
        assert error.code == 401
        assert json.load(error) == {"details": "incorrect username or password"}
    anonymous = request_token(url, "registry.test", scope)

    claims = jwt.decode(anonymous["token"], options={"verify_signature": False})
    assert claims["sub"] == ""
    assert claims["access"][0]["actions"] == ["pull"]
    assert token_server.stats.as_dict() == {
        "requests": 2,
        "authorized": 0,
        "anonymous": 1,
        "rejected": 1,
    }


def test_token_answer_can_leave_out_expires_in(token_server: TokenServer) -> None:
    token_server.settings = TokenSettings(
        token_server.settings.signing_key,
        token_server.settings.certificate_der_b64,
        "standin-token-service",
        omit_expires_in=True,
    )

    answer = request_token(f"{token_server.url}/token", "registry.test", [])

    assert "expires_in" not in answer
    assert set(answer) == {"token", "access_token", "issued_at"}


# The fake registry


def test_fake_serves_schema1_with_layers_newest_first_and_a_payload_digest(
    fake: FakeRegistry,
) -> None:
    token = fake.token("legacy/old")
    accept = {"Accept": SCHEMA1_SIGNED}
    answer = fetch(f"{fake.url}/v2/legacy/old/manifests/1", token=token, headers=accept)

    assert answer.headers["Content-Type"] == SCHEMA1_SIGNED
    manifest = answer.json()
    created = [json.loads(h["v1Compatibility"])["created"] for h in manifest["history"]]
    assert created == sorted(created, reverse=True)
    assert len(manifest["fsLayers"]) == 3
    # The digest covers the payload without "signatures", rebuilt from the
    # protected header's formatLength and formatTail.
    protected = manifest["signatures"][0]["protected"]
    header = json.loads(base64.urlsafe_b64decode(protected + "=="))
    tail = base64.urlsafe_b64decode(header["formatTail"] + "==")
    payload = answer.body[: header["formatLength"]] + tail
    assert sha256(payload) == answer.headers["Docker-Content-Digest"]
    assert answer.headers["Etag"] == f'"{sha256(payload)}"'


def test_fake_answers_404_when_the_stored_type_is_not_accepted(
    fake: FakeRegistry,
) -> None:
    token = fake.token("library/hello")
    url = f"{fake.url}/v2/library/hello/manifests/latest"

    refused = fetch(
        url, token=token, headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"}
    )
    served = fetch(url, token=token, headers={"Accept": DOCKER_LIST})

    assert refused.status == 404
    assert refused.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert served.status == 200
    assert served.headers["Content-Type"] == DOCKER_LIST


def test_fake_windows_image_has_os_version_and_a_foreign_base_layer(
    fake: FakeRegistry,
) -> None:
    token = fake.token("win/servercore")
    url = f"{fake.url}/v2/win/servercore"
    index = fetch(f"{url}/manifests/ltsc", token=token, headers={"Accept": ACCEPT_ALL})
    entry = index.json()["manifests"][1]
    manifest = fetch(
        f"{url}/manifests/{entry['digest']}",
        token=token,
        headers={"Accept": ACCEPT_ALL},
    ).json()
    foreign = manifest["layers"][0]

    assert entry["platform"]["os.version"] == "10.0.20348.2340"
    assert foreign["mediaType"] == DOCKER_FOREIGN_LAYER
    assert foreign["urls"][0].startswith("https://mcr.microsoft.com/")
    assert fetch(f"{url}/blobs/{foreign['digest']}", token=token).status == 404


def test_fake_blob_redirects_to_a_cdn_that_refuses_authorization(
    fake: FakeRegistry,
) -> None:
    token = fake.token("library/hello")
    index = fake.data["manifests"]["library/hello"]
    config_digest = json.loads(next(iter(index["manifests"].values()))["body"])[
        "config"
    ]["digest"]
    before = fake.stats()

    redirect = fetch(f"{fake.url}/v2/library/hello/blobs/{config_digest}", token=token)
    location = redirect.headers["Location"]
    with_token = fetch(location, token=token)
    without = fetch(location)

    hex_digest = config_digest.removeprefix("sha256:")
    assert redirect.status == 307
    assert location.startswith(
        f"{fake.cdn_url}/registry-v2/docker/registry/v2/blobs/sha256/"
        f"{hex_digest[:2]}/{hex_digest}/data?verify="
    )
    assert with_token.status == 400
    assert b"Only one auth mechanism allowed" in with_token.body
    assert without.status == 200
    assert sha256(without.body) == config_digest
    after = fake.stats()
    assert after["cdn_rejected_auth"] - before["cdn_rejected_auth"] == 1
    assert after["cdn_get"] - before["cdn_get"] == 2
    assert after["blob_get"] - before["blob_get"] == 1


def test_fake_quota_is_spent_by_manifest_gets_and_not_by_heads(
    fake: FakeRegistry,
) -> None:
    fake.set_pulls(limit=2, window=3600)
    token = fake.token("library/hello")
    url = f"{fake.url}/v2/library/hello/manifests/latest"
    accept = {"Accept": DOCKER_LIST}

    head = fetch(url, token=token, headers=accept, method="HEAD")
    gets = [fetch(url, token=token, headers=accept) for _ in range(3)]
    head_after = fetch(url, token=token, headers=accept, method="HEAD")
    fake.set_pulls(limit=100, window=21600)

    assert head.headers["ratelimit-remaining"] == "2;w=3600"
    assert [g.status for g in gets] == [200, 200, 429]
    assert [g.headers["ratelimit-remaining"] for g in gets] == [
        "1;w=3600",
        "0;w=3600",
        "0;w=3600",
    ]
    assert gets[0].headers["ratelimit-limit"] == "2;w=3600"
    assert gets[0].headers["docker-ratelimit-source"] == "127.0.0.1"
    assert gets[2].json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert head_after.status == 200


def test_fake_token_expires_after_its_ttl() -> None:
    with FakeRegistry(token_ttl=1) as short:
        token = short.token("library/hello")
        url = f"{short.url}/v2/library/hello/manifests/latest"
        fresh = fetch(url, token=token, headers={"Accept": DOCKER_LIST})
        time.sleep(1.2)
        stale = fetch(url, token=token, headers={"Accept": DOCKER_LIST})

    assert fresh.status == 200
    assert stale.status == 401
    assert challenge(stale)["error"] == "invalid_token"


def test_fake_honours_jwt_tokens_from_another_realm(registry: LocalRegistry) -> None:
    with FakeRegistry(realm=registry.auth_url, service=registry.service) as fake:
        url = f"{fake.url}/v2/library/hello/manifests/latest"
        params = challenge(fetch(url))
        token = request_token(params["realm"], params["service"], [params["scope"]])

        answer = fetch(url, token=token["token"], headers={"Accept": DOCKER_LIST})

    assert params["realm"] == registry.auth_url
    assert answer.status == 200
