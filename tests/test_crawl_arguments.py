"""Bad input ends a crawl before its first request, with one clear line."""

import pytest


@pytest.mark.parametrize(
    ("spider", "arguments", "message"),
    [
        ("org", [], "argument org is missing: required, for example -a org=bitnami"),
        ("org", ["org=../etc"], "argument org='../etc' is invalid: a namespace is"),
        ("org", ["org=Bitnami"], "argument org='Bitnami' is invalid"),
        ("repo", ["repos=a/b/c"], "argument repos='a/b/c' is invalid: a repository is"),
        ("repo", [], "argument repos is missing: required (or repos_file)"),
        ("repo", ["repos=,"], "argument repos=',' is invalid: required"),
        ("search", [], "argument query is missing"),
        ("search", ["query=x", "max_pages=0"], "argument max_pages='0' is invalid"),
        ("org", ["org=acme", "max_tags=lots"], "argument max_tags='lots' is invalid"),
        ("org", ["org=acme", "details=maybe"], "expected true or false"),
        (
            "org",
            ["org=acme", "colour=red"],
            "argument colour='red' is invalid: unknown",
        ),
    ],
)
def test_bad_arguments_fail_with_one_line_and_no_request(
    hub, crawl, spider, arguments, message
):
    result = crawl(spider, *arguments)
    assert result.returncode == 2
    assert message in result.log
    assert "Traceback" not in result.log
    assert hub.control("GET", "/_standin/stats")["requests"] == 0


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("DOCKERHUB_PAGE_SIZE", "500", "expected an integer from 1 to 100"),
        ("DOCKERHUB_HUB_URL", "hub.docker.com", "expected an absolute http://"),
        ("DOCKERHUB_DB_BATCH_SIZE", "0", "setting DOCKERHUB_DB_BATCH_SIZE='0'"),
    ],
)
def test_bad_settings_fail_at_start_naming_the_setting(
    hub, crawl, setting, value, message
):
    result = crawl("org", "org=acme", settings={setting: value})
    assert result.returncode == 2
    assert message in result.log
    assert "Traceback" not in result.log


def test_a_repos_file_with_a_bad_line_names_the_line(hub, crawl, tmp_path):
    names = tmp_path / "repos.txt"
    names.write_text("# audit list\nnginx\n\nBad/Name\n")
    result = crawl("repo", f"repos_file={names}")
    assert result.returncode == 2
    assert "line 4" in result.log
    assert "Traceback" not in result.log


def test_a_missing_repos_file_is_reported(hub, crawl, tmp_path):
    result = crawl("repo", f"repos_file={tmp_path / 'absent.txt'}")
    assert result.returncode == 2
    assert "cannot read the file" in result.log
