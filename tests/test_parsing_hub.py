import json

import pytest

from dockerhub.parsing import hub

REAL_REPOSITORY = {
    "user": "ebusinessdocker",
    "name": "disney",
    "namespace": "ebusinessdocker",
    "repository_type": "image",
    "status": 1,
    "status_description": "active",
    "description": "",
    "is_private": False,
    "is_automated": False,
    "star_count": 0,
    "pull_count": 275,
    "last_updated": "2017-11-02T07:47:35.758489Z",
    "last_modified": "2024-10-16T13:48:34.145251Z",
    "date_registered": "2017-04-25T09:11:17.568035Z",
    "collaborator_count": 0,
    "affiliation": None,
    "hub_user": "ebusinessdocker",
    "has_starred": False,
    "permissions": {"read": True, "write": False, "admin": False},
    "media_types": ["application/vnd.docker.container.image.v1+json"],
    "content_types": ["image"],
    "categories": [],
    "immutable_tags_settings": {"enabled": False, "rules": [".*"]},
    "storage_size": 1007407794,
    "source": None,
}

REAL_TAG = {
    "creator": 613503,
    "id": 10278613,
    "images": [
        {
            "architecture": "amd64",
            "features": "",
            "variant": None,
            "digest": "sha256:46a577b81ad2ad37b99d7a809ccd21c135cbca3c6ab3b49cfcf705c54312de78",  # noqa: E501
            "os": "linux",
            "os_features": "",
            "os_version": None,
            "size": 25529703,
            "status": "active",
            "last_pulled": "2026-01-09T19:20:49.733138382Z",
            "last_pushed": "2017-11-02T07:47:36Z",
        }
    ],
    "last_updated": "2017-11-02T07:47:35.374523Z",
    "last_updater": 613503,
    "last_updater_username": "ebusinessdocker",
    "name": "latest",
    "repository": 1436233,
    "full_size": 25529703,
    "v2": True,
    "tag_status": "active",
    "tag_last_pulled": "2026-01-09T19:20:49.733138382Z",
    "tag_last_pushed": "2017-11-02T07:47:35.374523Z",
    "media_type": "application/vnd.docker.container.image.v1+json",
    "content_type": "image",
}


def test_a_real_repository_detail_keeps_every_queried_field():
    item = hub.repository_item(REAL_REPOSITORY, scraped_at="now", source="detail")
    assert item.full_name == "ebusinessdocker/disney"
    assert item.pull_count == 275
    assert item.star_count == 0
    assert item.description == ""
    assert item.full_description is None  # absent in the real answer
    assert item.storage_size == 1007407794
    assert item.is_official is False
    assert item.date_registered == "2017-04-25T09:11:17.568035Z"
    assert item.status == 1
    assert item.source == "detail"


def test_official_images_are_recognised_by_their_namespace():
    entry = dict(REAL_REPOSITORY, namespace="library", name="nginx")
    assert hub.repository_item(entry, scraped_at="", source="listing").is_official


def test_a_real_tag_keeps_its_platform_details():
    tag = hub.tag_item("ebusinessdocker/disney", REAL_TAG, scraped_at="now")
    assert tag.tag_name == "latest"
    assert tag.digest is None  # single-platform old tags have no top-level digest
    assert tag.last_pushed == "2017-11-02T07:47:35.374523Z"
    assert tag.last_pulled == "2026-01-09T19:20:49.733138382Z"
    assert tag.v2 is True
    [image] = tag.images
    assert image["architecture"] == "amd64"
    assert image["variant"] is None
    assert image["size"] == 25529703
    assert image["digest"].startswith("sha256:46a577")


def test_an_old_tag_without_digest_or_images_is_kept():
    entry = {"name": "0.1", "full_size": 0, "images": []}
    tag = hub.tag_item("a/b", entry, scraped_at="")
    assert (tag.digest, tag.full_size, tag.images) == (None, 0, [])


def test_wrongly_typed_fields_become_none_rather_than_guesses():
    entry = dict(REAL_REPOSITORY, pull_count="many", star_count=True, status=None)
    item = hub.repository_item(entry, scraped_at="", source="detail")
    assert (item.pull_count, item.star_count, item.status) == (None, None, None)


def test_pages_follow_next_links_with_escaped_ampersands():
    body = (
        b'{"count": 3, "next": "https://hub.docker.com/v2/x?page=2\\u0026page_size=1",'
        b' "previous": null, "results": [{"name": "a"}]}'
    )
    page = hub.parse_page(body)
    assert page.next_url == "https://hub.docker.com/v2/x?page=2&page_size=1"
    assert page.count == 3
    assert page.results == [{"name": "a"}]


@pytest.mark.parametrize(
    "body", [b"{not json", b"[]", b'{"results": null}', b"\xff\xfe", b""]
)
def test_bodies_that_are_not_a_page_raise_a_format_error(body):
    with pytest.raises(hub.HubFormatError):
        hub.parse_page(body)


def test_search_results_map_official_names_to_library():
    result = {
        "repo_name": "nginx",
        "short_description": "Official build of Nginx.",
        "star_count": 20000,
        "pull_count": 10**9,
        "repo_owner": "",
        "is_automated": False,
        "is_official": True,
    }
    assert hub.search_result_name(result) == "library/nginx"
    item = hub.repository_item_from_search(result, scraped_at="")
    assert (item.namespace, item.name, item.is_official) == ("library", "nginx", True)
    assert item.source == "search"
    assert item.pull_count == 10**9


def test_unicode_and_quotes_survive_parsing_verbatim():
    text = "Zürich «quotes» \"double\" 'single'; DROP TABLE tags; -- 🐳"
    body = json.dumps(dict(REAL_REPOSITORY, description=text)).encode()
    item = hub.repository_item(hub.parse_object(body), scraped_at="", source="detail")
    assert item.description == text
