"""Spider argument parsing, shared by the spiders and the ``crawl`` command.

Every argument arrives as a string from ``-a name=value``.  Parsing happens
before the first request, so a typo ends the run at once with a message
that names the argument and the rule it broke.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from dockerhub.exceptions import SpiderArgumentError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def reject_unknown(arguments: Mapping[str, str], known: Iterable[str]) -> None:
    # Arguments starting with "_" come from tools such as Scrapyd (_job).
    allowed = set(known)
    for name in arguments:
        if name not in allowed and not name.startswith("_"):
            raise SpiderArgumentError(
                name,
                arguments[name],
                f"unknown argument; this spider takes {', '.join(sorted(allowed))}",
            )


def boolean(arguments: Mapping[str, str], name: str, default: bool) -> bool:
    value = arguments.get(name)
    if value is None:
        return default
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SpiderArgumentError(name, value, "expected true or false")


def positive_int(arguments: Mapping[str, str], name: str) -> int | None:
    value = arguments.get(name)
    if value is None or str(value).strip() == "":
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1:
        raise SpiderArgumentError(name, value, "expected a whole number >= 1")
    return number


def required(arguments: Mapping[str, str], name: str, example: str) -> str:
    value = arguments.get(name)
    if value is None or not str(value).strip():
        raise SpiderArgumentError(name, None, f"required, for example -a {example}")
    return str(value)


def lines_of_file(name: str, value: str) -> list[tuple[int, str]]:
    """Non-blank, non-comment lines of a file, with their line numbers."""
    path = Path(value)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpiderArgumentError(
            name, value, f"cannot read the file: {exc.strerror}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise SpiderArgumentError(name, value, "the file is not UTF-8 text") from exc
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if content:
            entries.append((number, content))
    return entries
