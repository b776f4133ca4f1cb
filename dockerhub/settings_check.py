"""Read every project setting once, so a bad value fails before the crawl."""

from __future__ import annotations

from scrapy.settings import BaseSettings

from dockerhub.config import get_bool, get_float, get_int, get_str, get_url


def check_settings(settings: BaseSettings) -> None:
    """Raise :class:`~dockerhub.exceptions.SettingError` for the first bad value."""
    for name in ("DOCKERHUB_HUB_URL", "DOCKERHUB_REGISTRY_URL", "DOCKERHUB_AUTH_URL"):
        get_url(settings, name)
    get_int(settings, "DOCKERHUB_PAGE_SIZE", minimum=1, maximum=100)
    get_bool(settings, "DOCKERHUB_LAYERS")
    get_str(settings, "DOCKERHUB_USERNAME")
    get_str(settings, "DOCKERHUB_TOKEN")
    get_str(settings, "DOCKERHUB_DB")
    get_int(settings, "DOCKERHUB_DB_BATCH_SIZE", minimum=1)
    get_float(settings, "DOCKERHUB_DB_FLUSH_SECONDS")
