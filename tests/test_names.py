import pytest

from dockerhub.exceptions import SpiderArgumentError
from dockerhub.names import check_namespace, check_repository, official_full_name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nginx", "library/nginx"),
        ("bitnami/redis", "bitnami/redis"),
        (" bitnami/redis ", "bitnami/redis"),
        ("my-org/app__x.y", "my-org/app__x.y"),
    ],
)
def test_repository_references_are_normalised(value, expected):
    assert check_repository("repos", value) == expected


@pytest.mark.parametrize(
    "value", ["../etc", "Bitnami/redis", "a/b/c", "bitnami/", "-x", "a//b", "a b", ""]
)
def test_bad_repository_references_name_the_argument_and_rule(value):
    with pytest.raises(SpiderArgumentError) as info:
        check_repository("repos", value)
    message = str(info.value)
    assert message.startswith("argument repos=")
    assert "lowercase letters and digits" in message


@pytest.mark.parametrize("value", ["../etc", "BitNami", "a/b", "x" * 256, "_x"])
def test_bad_namespaces_are_rejected(value):
    with pytest.raises(SpiderArgumentError, match="argument org="):
        check_namespace("org", value)


def test_official_search_results_gain_the_library_namespace():
    assert official_full_name("nginx") == "library/nginx"
    assert official_full_name("bitnami/nginx") == "bitnami/nginx"
