"""Timestamps as stored everywhere: UTC, ISO 8601, second precision, ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
