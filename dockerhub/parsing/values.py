"""Readers for loosely typed JSON values.

Docker Hub and registries send fields that go missing, turn ``null`` or
change type.  Each reader returns the value when it has the expected type
and ``None`` (or an empty list) otherwise, rather than guessing.
"""

from __future__ import annotations

from typing import Any


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_int(value: Any) -> int | None:
    # bool is an int subclass; a true/false where a count belongs is no count.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def as_bool(value: Any) -> bool | None:
    """A boolean, also from the strings "true"/"false" the OpenAPI file promises."""
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def as_str_list(value: Any) -> list[str] | None:
    """The strings of a list, or None when the value is no list at all."""
    if not isinstance(value, list):
        return None
    return [item for item in value if isinstance(item, str)]
