"""Read every project setting once, so a bad value fails before the crawl."""

from __future__ import annotations

from scrapy.settings import BaseSettings

from dockerhub.config import get_bool, get_float, get_int, get_str, get_url
from dockerhub.middlewares.proxy_list import read_rotation_settings
from dockerhub.middlewares.pull_quota import check_pull_settings


def check_settings(settings: BaseSettings) -> None:
    """Raise :class:`~dockerhub.exceptions.SettingError` for the first bad value."""
    for name in ("DOCKERHUB_HUB_URL", "DOCKERHUB_REGISTRY_URL", "DOCKERHUB_AUTH_URL"):
        get_url(settings, name)
    get_int(settings, "DOCKERHUB_PAGE_SIZE", minimum=1, maximum=100)
    get_bool(settings, "DOCKERHUB_LAYERS")
    get_str(settings, "DOCKERHUB_USERNAME")
    get_str(settings, "DOCKERHUB_TOKEN")
    check_pull_settings(settings)
    get_str(settings, "DOCKERHUB_DB")
    get_int(settings, "DOCKERHUB_DB_BATCH_SIZE", minimum=1)
    get_float(settings, "DOCKERHUB_DB_FLUSH_SECONDS")
    get_int(settings, "RETRY_TIMES", minimum=0)
    get_float(settings, "DOCKERHUB_RETRY_BACKOFF_BASE")
    get_float(settings, "DOCKERHUB_RETRY_BACKOFF_MAX")
    get_int(settings, "DOCKERHUB_RATELIMIT_RESERVE", minimum=0)
    get_float(settings, "DOCKERHUB_RATELIMIT_DEFAULT_PAUSE")
    get_int(settings, "DOCKERHUB_RATELIMIT_MAX_RETRIES", minimum=0)
    read_rotation_settings(settings)
    get_float(settings, "DOCKERHUB_PROGRESS_INTERVAL")
