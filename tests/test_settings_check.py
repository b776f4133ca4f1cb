"""Every bad setting value stops the crawl at start, naming the setting."""

import pytest
from scrapy.settings import Settings

from dockerhub.exceptions import SettingError
from dockerhub.settings_check import check_settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DOCKERHUB_RETRY_BACKOFF_BASE", "-1"),
        ("DOCKERHUB_RETRY_BACKOFF_MAX", "soon"),
        ("RETRY_TIMES", "-2"),
        ("DOCKERHUB_RATELIMIT_RESERVE", "-1"),
        ("DOCKERHUB_RATELIMIT_DEFAULT_PAUSE", "a minute"),
        ("DOCKERHUB_RATELIMIT_MAX_RETRIES", "1.5"),
    ],
)
def test_a_bad_value_fails_naming_the_setting(name, value):
    settings = Settings()
    settings.setmodule("dockerhub.settings")
    settings.set(name, value)
    with pytest.raises(SettingError, match=f"setting {name}="):
        check_settings(settings)


def test_the_project_defaults_pass():
    settings = Settings()
    settings.setmodule("dockerhub.settings")
    check_settings(settings)
