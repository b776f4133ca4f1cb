"""Typed, validated access to the project's settings.

Scrapy's ``getint``/``getbool`` raise bare ``ValueError`` on a bad value and
accept nonsense such as a negative page size.  Components read their
settings through these helpers in ``from_crawler`` so that a bad value stops
the crawl at start with a message naming the setting, the value and what
would be accepted.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy.settings import BaseSettings

from dockerhub.exceptions import SettingError


def get_int(
    settings: BaseSettings,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    raw = settings.get(name)
    accepted = _range_text("an integer", minimum, maximum)
    try:
        value = settings.getint(name)
    except (TypeError, ValueError) as exc:
        raise SettingError(name, raw, accepted) from exc
    if (minimum is not None and value < minimum) or (
        maximum is not None and value > maximum
    ):
        raise SettingError(name, raw, accepted)
    return value


def get_optional_int(settings: BaseSettings, name: str, *, minimum: int) -> int | None:
    """An integer setting where ``None`` or an empty value means "no limit"."""
    if settings.get(name) in (None, ""):
        return None
    return get_int(settings, name, minimum=minimum)


def get_float(settings: BaseSettings, name: str, *, minimum: float = 0.0) -> float:
    raw = settings.get(name)
    accepted = f"a number >= {minimum:g}"
    try:
        value = settings.getfloat(name)
    except (TypeError, ValueError) as exc:
        raise SettingError(name, raw, accepted) from exc
    if value < minimum:
        raise SettingError(name, raw, accepted)
    return value


def get_bool(settings: BaseSettings, name: str) -> bool:
    raw = settings.get(name)
    try:
        return settings.getbool(name)
    except (TypeError, ValueError) as exc:
        raise SettingError(name, raw, "true/false, 1/0, yes/no") from exc


def get_url(settings: BaseSettings, name: str) -> str:
    """An absolute http(s) URL, returned without a trailing slash."""
    raw = settings.get(name)
    accepted = "an absolute http:// or https:// URL"
    if not isinstance(raw, str):
        raise SettingError(name, raw, accepted)
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(name, raw, accepted)
    return raw.strip().rstrip("/")


def get_str(settings: BaseSettings, name: str) -> str:
    raw = settings.get(name)
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise SettingError(name, raw, "a string")
    return raw


def _range_text(kind: str, minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{kind} from {minimum} to {maximum}"
    if minimum is not None:
        return f"{kind} >= {minimum}"
    return kind
