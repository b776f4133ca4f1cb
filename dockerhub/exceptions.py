"""The project's own errors: bad input, and requests it chose not to send."""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest


class DockerHubError(Exception):
    """Base class of the project's own errors."""


class SettingError(DockerHubError, ValueError):
    """A ``DOCKERHUB_*`` (or related Scrapy) setting has an unusable value."""

    def __init__(self, name: str, value: object, accepted: str) -> None:
        self.name = name
        self.value = value
        self.accepted = accepted
        super().__init__(f"setting {name}={value!r} is invalid: expected {accepted}")


class SpiderArgumentError(DockerHubError, ValueError):
    """A spider argument (``-a name=value``) breaks a rule."""

    def __init__(self, argument: str, value: object, rule: str) -> None:
        self.argument = argument
        self.value = value
        self.rule = rule
        if value is None:
            super().__init__(f"argument {argument} is missing: {rule}")
        else:
            super().__init__(f"argument {argument}={value!r} is invalid: {rule}")


class PullQuotaReached(IgnoreRequest):
    """A manifest GET was not sent: quota at its reserve, or budget spent."""
