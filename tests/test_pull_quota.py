"""The registry's pull quota: read it, keep a reserve, stop or wait, resume."""

import pytest

from tests.registry_worlds import hub_world_for_fake

FAKE_REPOS = "legacy/old,win/servercore,library/hello"


@pytest.fixture
def quota_crawl(hub, crawl, fake_registry):
    hub.control("PUT", "/_standin/world", hub_world_for_fake())

    def run(*arguments, settings=None):
        merged = {
            "DOCKERHUB_REGISTRY_URL": fake_registry.url,
            "DOCKERHUB_AUTH_URL": fake_registry.realm,
            **(settings or {}),
        }
        return crawl(
            "repo", f"repos={FAKE_REPOS}", "layers=true", *arguments, settings=merged
        )

    return run


@pytest.fixture
def full_gets(quota_crawl, fake_registry, tmp_path):
    """Manifest GETs a complete crawl of the fake registry takes."""
    result = quota_crawl(settings={"DOCKERHUB_DB": str(tmp_path / "full.db")})
    assert result.returncode == 0, result.log
    return fake_registry.stats()["manifest_get"]


def test_quota_used_and_left_are_in_stats_and_the_run_row(quota_crawl, fake_registry):
    fake_registry.set_pulls(limit=100, remaining=100, window=21600)
    result = quota_crawl()
    gets = fake_registry.stats()["manifest_get"]
    assert gets > 0
    stats = result.stats()
    assert stats["dockerhub/registry/quota_limit"] == 100
    assert stats["dockerhub/registry/quota_remaining"] == 100 - gets
    assert stats["dockerhub/registry/quota_window"] == 21600
    assert result.rows("SELECT manifest_gets, quota_remaining FROM crawl_runs") == [
        (gets, 100 - gets)
    ]


def test_the_reserve_stops_manifest_gets_and_the_next_crawl_takes_them_first(
    quota_crawl, fake_registry, full_gets
):
    assert full_gets > 4
    fake_registry.set_pulls(limit=20, remaining=4, window=21600)
    first = quota_crawl()
    assert first.returncode == 0
    # 10% of 20 is kept back: at most two GETs, then none.  The count is
    # cautious, so an answer overtaking a GET can stop it one GET sooner.
    assert 1 <= fake_registry.stats()["manifest_get"] - full_gets <= 2
    assert "No more manifest GETs in this crawl" in first.log
    stats = first.stats()
    assert stats["dockerhub/registry/quota_stopped"] == 1
    [(pending,)] = first.rows("SELECT pending_fetches FROM crawl_runs")
    assert pending > 0
    stored = first.rows("SELECT count(*) FROM manifests")[0][0]

    fake_registry.set_pulls(limit=100, remaining=100)
    second = quota_crawl()
    assert second.returncode == 0
    assert f"Fetching first {pending} manifests an earlier crawl left" in second.log
    assert second.rows("SELECT count(*) FROM pending_fetches") == [(0,)]
    assert second.rows("SELECT count(*) FROM manifests")[0][0] > stored
    assert second.rows("SELECT pending_fetches FROM crawl_runs ORDER BY id") == [
        (pending,),
        (0,),
    ]


def test_the_pull_budget_caps_manifest_gets_per_crawl(quota_crawl, fake_registry):
    before = fake_registry.stats()["manifest_get"]
    result = quota_crawl(settings={"DOCKERHUB_PULL_BUDGET": 1})
    assert fake_registry.stats()["manifest_get"] - before == 1
    assert "DOCKERHUB_PULL_BUDGET=1 spent" in result.log


def test_wait_for_quota_waits_for_the_window_and_completes(
    quota_crawl, fake_registry, full_gets
):
    fake_registry.set_pulls(limit=10, remaining=1, window=2)
    result = quota_crawl("wait_for_quota=true")
    assert result.returncode == 0, result.log
    assert "checking again in" in result.log
    assert fake_registry.stats()["manifest_get"] - full_gets == full_gets
    assert result.rows("SELECT count(*) FROM pending_fetches") == [(0,)]
    assert result.stats()["dockerhub/registry/quota_wait_seconds"] >= 1


def test_a_429_from_the_registry_defers_instead_of_failing(quota_crawl, fake_registry):
    fake_registry.set_pulls(limit=10, remaining=0, window=21600)
    result = quota_crawl()
    assert result.returncode == 0
    assert result.rows("SELECT count(*) FROM manifests") == [(0,)]
    assert result.rows("SELECT count(*) FROM pending_fetches")[0][0] > 0
    assert "Gave up on" not in result.log


def test_a_bad_reserve_setting_fails_at_start(quota_crawl):
    result = quota_crawl(settings={"DOCKERHUB_PULL_RESERVE": "lots"})
    assert result.returncode == 2
    assert "setting DOCKERHUB_PULL_RESERVE='lots' is invalid" in result.log
