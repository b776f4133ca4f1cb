"""The proxy list and rotation settings, read and checked once.

Proxy rotation is on when ``ROTATING_PROXY_LIST`` (URLs separated by commas,
or a list in settings.py) or ``ROTATING_PROXY_LIST_PATH`` (a file with one
URL per line; ``#`` starts a comment line) names at least one proxy.  The
file wins when both are set, as in scrapy-rotating-proxies itself.

A proxy URL may carry credentials (``http://user:password@host:port``).
They stay in :class:`Proxy` as a ready ``Proxy-Authorization`` value and
never reach a log line, an error message or a stats key: everything shown
uses :func:`mask_proxy_url`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from scrapy.settings import BaseSettings
from scrapy.utils.misc import load_object

from dockerhub.config import get_bool, get_float, get_int, get_str
from dockerhub.exceptions import SettingError

LIST_SETTING = "ROTATING_PROXY_LIST"
PATH_SETTING = "ROTATING_PROXY_LIST_PATH"
POLICY_SETTING = "ROTATING_PROXY_BAN_POLICY"
ACCEPTED_URL = "a proxy URL like http://[USER:PASSWORD@]HOST:PORT (http or https)"


@dataclass(frozen=True)
class Proxy:
    """One proxy of the list."""

    #: ``scheme://host:port`` without credentials: what request.meta["proxy"]
    #: holds, and what the plugin and the other middlewares see.
    url: str
    #: ``host:port``: the proxy's download slot and its name in logs.
    hostport: str
    #: The URL as logs may show it, the password replaced by ``***``.
    shown: str
    #: ``Basic ...`` for ``Proxy-Authorization``, or None without credentials.
    authorization: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RotationSettings:
    """What the rotation middlewares read from the settings."""

    proxies: list[Proxy]
    logstats_interval: float
    close_spider: bool
    page_retry_times: int
    backoff_base: float
    backoff_cap: float
    ban_policy: type


def mask_proxy_url(url: str) -> str:
    """``url`` with any password replaced by ``***``; safe to log."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    prefix = f"{scheme}://" if separator else ""
    return f"{prefix}{user}:***@{hostport}{slash}{path}"


def parse_proxy(text: str, setting: str, encoding: str = "latin-1") -> Proxy:
    """One proxy URL; a missing scheme means ``http://``."""
    raw = text.strip()
    if "://" not in raw:
        raw = "http://" + raw
    shown = mask_proxy_url(raw)
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError as exc:
        raise SettingError(setting, shown, ACCEPTED_URL) from exc
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise SettingError(setting, shown, ACCEPTED_URL)
    hostport = parts.netloc.rpartition("@")[2]
    url = f"{parts.scheme}://{hostport}"
    if parts.username is None:
        return Proxy(url, hostport, url)
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    try:
        token = base64.b64encode(credentials.encode(encoding))
    except UnicodeEncodeError as exc:
        accepted = f"credentials that HTTPPROXY_AUTH_ENCODING ({encoding}) can encode"
        raise SettingError(setting, shown, accepted) from exc
    return Proxy(url, hostport, mask_proxy_url(raw), b"Basic " + token)


def read_proxies(settings: BaseSettings) -> list[Proxy]:
    """The configured proxies, one per host:port; empty means rotation is off."""
    setting, lines = _proxy_lines(settings)
    encoding = settings.get("HTTPPROXY_AUTH_ENCODING") or "latin-1"
    proxies: dict[str, Proxy] = {}
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        proxy = parse_proxy(text, setting, encoding)
        known = proxies.setdefault(proxy.hostport, proxy)
        if known != proxy:
            # The plugin tells proxies apart by host:port alone.
            raise SettingError(
                setting, proxy.shown, "each HOST:PORT once, with one set of credentials"
            )
    if not proxies and setting == PATH_SETTING:
        # Asked for proxies and given none: going on without them would
        # send every request from this machine's own address.
        raise SettingError(
            setting, get_str(settings, setting), "a file that lists at least one proxy"
        )
    return list(proxies.values())


def _proxy_lines(settings: BaseSettings) -> tuple[str, list[str]]:
    path = get_str(settings, PATH_SETTING).strip()
    if path:
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            accepted = "a readable UTF-8 file with one proxy URL per line"
            raise SettingError(PATH_SETTING, path, accepted) from exc
        return PATH_SETTING, text.splitlines()
    raw = settings.get(LIST_SETTING)
    if raw in (None, ""):
        return LIST_SETTING, []
    if isinstance(raw, str):
        return LIST_SETTING, raw.split(",")
    if isinstance(raw, list | tuple) and all(isinstance(line, str) for line in raw):
        return LIST_SETTING, list(raw)
    # Not shown: a value of an unexpected shape may hold a password.
    raise SettingError(LIST_SETTING, "...", "proxy URLs separated by commas, or a list")


def read_rotation_settings(settings: BaseSettings) -> RotationSettings | None:
    """Every rotation setting, or None when no proxy list is configured."""
    proxies = read_proxies(settings)
    if not proxies:
        return None
    base = get_float(settings, "ROTATING_PROXY_BACKOFF_BASE")
    cap = get_float(settings, "ROTATING_PROXY_BACKOFF_CAP", minimum=base)
    return RotationSettings(
        proxies=proxies,
        logstats_interval=get_float(
            settings, "ROTATING_PROXY_LOGSTATS_INTERVAL", minimum=1.0
        ),
        close_spider=get_bool(settings, "ROTATING_PROXY_CLOSE_SPIDER"),
        page_retry_times=get_int(
            settings, "ROTATING_PROXY_PAGE_RETRY_TIMES", minimum=0
        ),
        backoff_base=base,
        backoff_cap=cap,
        ban_policy=_ban_policy(settings),
    )


def _ban_policy(settings: BaseSettings) -> type:
    path = settings.get(POLICY_SETTING)
    accepted = "the import path of a class with response_is_ban and exception_is_ban"
    try:
        policy = load_object(path)
    except (ImportError, NameError, TypeError, ValueError) as exc:
        raise SettingError(POLICY_SETTING, path, accepted) from exc
    methods = ("response_is_ban", "exception_is_ban")
    if not isinstance(policy, type) or not all(
        callable(getattr(policy, name, None)) for name in methods
    ):
        raise SettingError(POLICY_SETTING, path, accepted)
    return policy
