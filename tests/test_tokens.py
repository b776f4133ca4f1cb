from dockerhub.tokens import TokenCache, parse_challenge, redact, scope_for_path


def test_a_docker_hub_challenge_is_parsed():
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/nginx:pull"'
    )
    challenge = parse_challenge(header)
    assert challenge is not None
    assert challenge.realm == "https://auth.docker.io/token"
    assert challenge.service == "registry.docker.io"
    assert challenge.scope == "repository:library/nginx:pull"
    assert challenge.token_url() == (
        "https://auth.docker.io/token?service=registry.docker.io"
        "&scope=repository%3Alibrary%2Fnginx%3Apull"
    )


def test_basic_challenges_and_realms_that_are_not_urls_are_ignored():
    assert parse_challenge('Basic realm="x"') is None
    assert parse_challenge('Bearer realm="file:///etc/passwd"') is None
    assert parse_challenge(None) is None


def test_scope_is_derived_from_registry_paths():
    assert scope_for_path("/v2/library/nginx/manifests/latest") == (
        "repository:library/nginx:pull"
    )
    assert scope_for_path("/v2/a/b/blobs/sha256:x") == "repository:a/b:pull"
    assert scope_for_path("/v2/") is None


def test_tokens_expire_shortly_before_their_lifetime():
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    assert cache.put("s", "tok", 300) == 270
    now[0] += 269
    assert cache.get("s") == "tok"
    now[0] += 2
    assert cache.get("s") is None


def test_a_token_without_expires_in_lives_sixty_seconds():
    now = [0.0]
    cache = TokenCache(clock=lambda: now[0])
    cache.put("s", "tok", None)
    now[0] = 53.9
    assert cache.get("s") == "tok"
    now[0] = 54.1
    assert cache.get("s") is None


def test_redaction_keeps_only_a_short_prefix():
    token = "eyJhbGciOiJSUzI1NiJ9.payload.signature"
    assert redact(token) == "eyJhbG…"
    assert "payload" not in redact(token)
