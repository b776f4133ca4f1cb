"""From tags to the registry: manifests, their layers, image configs.

Mixed into every spider.  For each tag, the Hub already names each
platform's manifest digest, so those are fetched by digest; a tag the Hub
gives no platform digests for is resolved with a HEAD by tag first (a HEAD
costs no pull).  Digests already known are never fetched again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from scrapy import Request, Spider
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector
from twisted.python.failure import Failure

from dockerhub import meta as meta_keys
from dockerhub.clock import utc_now
from dockerhub.digests import KnownDigests
from dockerhub.exceptions import PullQuotaReached, SpiderArgumentError
from dockerhub.items import PendingFetchItem, TagItem, TagManifestItem
from dockerhub.names import split_list
from dockerhub.parsing import manifests
from dockerhub.spiders import arguments as args

# Registry requests go before further tag pages: they finish what is begun.
PRIORITY_REGISTRY = 30
PLATFORM_RULE = "a comma-separated list of os/architecture[/variant], e.g. linux/amd64"


class RegistryCrawl(Spider):
    """The registry half of a spider; see the module docstring."""

    registry_arguments = (
        "layers",
        "config",
        "attestations",
        "platforms",
        "wait_for_quota",
    )

    registry_url: str
    layers_default: bool

    def configure_registry(self, arguments: Mapping[str, str]) -> None:
        self.layers_argument = (
            args.boolean(arguments, "layers", default=False)
            if "layers" in arguments
            else None
        )
        self.config = args.boolean(arguments, "config", default=False)
        self.attestations = args.boolean(arguments, "attestations", default=False)
        self.platforms = parse_platforms(arguments.get("platforms"))
        self.wait_for_quota = args.boolean(arguments, "wait_for_quota", default=False)
        self.known_digests = KnownDigests()

    @property
    def registry_enabled(self) -> bool:
        # config and attestations need the manifests, so they imply layers.
        layers = self.layers_default
        if self.layers_argument is not None:
            layers = self.layers_argument
        return layers or self.config or self.attestations

    @property
    def stats(self) -> StatsCollector:
        assert self.crawler.stats is not None
        return self.crawler.stats

    def platform_wanted(self, platform: Mapping[str, Any]) -> bool:
        if not self.platforms:
            return True
        os_arch = f"{platform.get('os')}/{platform.get('architecture')}"
        full = f"{os_arch}/{platform.get('variant')}"
        return os_arch in self.platforms or full in self.platforms

    # -- requests -------------------------------------------------------------

    def backlog_requests(self) -> Iterator[Request]:
        """Manifest GETs an earlier crawl had to leave for lack of quota."""
        backlog = self.known_digests.backlog
        if not self.registry_enabled or backlog is None:
            return
        pending = backlog()
        if pending:
            self.logger.info(
                "Fetching first %(count)d manifests an earlier crawl left",
                {"count": len(pending)},
            )
        for digest, repo_name, platform in pending:
            if self.known_digests.claim(digest):
                yield self.manifest_request(repo_name, digest, platform)

    def registry_requests(self, tag: TagItem) -> Iterator[Request]:
        """What the registry must be asked about one tag."""
        platforms = [image for image in tag.images if image.get("digest")]
        if platforms:
            for image in platforms:
                if self.platform_wanted(image) and self.known_digests.claim(
                    image["digest"]
                ):
                    yield self.manifest_request(
                        tag.repo_name, image["digest"], platform=image
                    )
            index = tag.digest
            if (
                self.attestations
                and index
                and index not in {image["digest"] for image in platforms}
                and self.known_digests.claim(index)
            ):
                yield self.manifest_request(tag.repo_name, index)
        else:
            # The Hub names no platform manifest (old tags): ask the registry
            # what the tag points to.  A HEAD costs no pull.
            yield self.registry_request(
                tag.repo_name,
                f"manifests/{tag.tag_name}",
                callback=self.parse_tag_head,
                cb_kwargs={"repo_name": tag.repo_name, "tag_name": tag.tag_name},
                method="HEAD",
            )

    def registry_request(
        self,
        repo_name: str,
        path: str,
        *,
        callback: Any,
        cb_kwargs: dict[str, Any],
        method: str = "GET",
        pull: bool = False,
    ) -> Request:
        return Request(
            f"{self.registry_url}/v2/{repo_name}/{path}",
            method=method,
            headers={"Accept": manifests.ACCEPT},
            callback=callback,
            errback=self.registry_failed,
            cb_kwargs=cb_kwargs,
            meta={
                "handle_httpstatus_list": [404],
                meta_keys.REGISTRY: True,
                # A manifest GET spends pull quota; HEADs and blobs do not.
                meta_keys.PULL: pull,
            },
            priority=PRIORITY_REGISTRY,
            dont_filter=True,
        )

    def manifest_request(
        self, repo_name: str, digest: str, platform: Mapping[str, Any] | None = None
    ) -> Request:
        kept = (
            {
                key: platform.get(key)
                for key in ("os", "architecture", "variant", "os_version")
            }
            if platform
            else {}
        )
        return self.registry_request(
            repo_name,
            f"manifests/{digest}",
            callback=self.parse_manifest,
            cb_kwargs={"repo_name": repo_name, "digest": digest, "platform": kept},
            pull=True,
        )

    # -- callbacks ------------------------------------------------------------

    def parse_tag_head(
        self, response: Response, repo_name: str, tag_name: str
    ) -> Iterator[Any]:
        if response.status == 404:
            self.logger.warning(
                "Tag %(repo)s:%(tag)s is not in the registry",
                {"repo": repo_name, "tag": tag_name},
            )
            self.stats.inc_value("dockerhub/registry/tag_not_found")
            return
        digest = _header(response, b"Docker-Content-Digest")
        if not digest:
            self.logger.warning(
                "Registry named no digest for %(repo)s:%(tag)s",
                {"repo": repo_name, "tag": tag_name},
            )
            self.stats.inc_value("dockerhub/registry/no_digest")
            return
        self.stats.inc_value("dockerhub/registry/tags_resolved")
        yield TagManifestItem(
            repo_name=repo_name,
            tag_name=tag_name,
            digest=digest,
            media_type=_header(response, b"Content-Type"),
            resolved_at=utc_now(),
        )
        if self.known_digests.claim(digest):
            yield self.manifest_request(repo_name, digest)

    def parse_manifest(
        self,
        response: Response,
        repo_name: str,
        digest: str,
        platform: dict[str, Any],
    ) -> Iterator[Any]:
        self.stats.inc_value("dockerhub/registry/manifest_get")
        if response.status == 404:
            self.logger.warning(
                "Manifest %(digest)s of %(repo)s is not in the registry",
                {"digest": digest, "repo": repo_name},
            )
            self.stats.inc_value("dockerhub/registry/manifest_not_found")
            self.known_digests.release(digest)
            return
        content_type = _header(response, b"Content-Type")
        try:
            manifest = manifests.parse_manifest(response.body, content_type, digest)
        except manifests.ManifestError as exc:
            self.registry_error(response, digest, exc)
            return
        if manifest.kind != "schema1" and not self.digest_matches(response, digest):
            return
        self.stats.inc_value(f"dockerhub/registry/manifests/{manifest.kind}")
        yield manifests.manifest_item(manifest, repo_name, platform)
        yield from self.after_manifest(repo_name, manifest)

    def after_manifest(
        self, repo_name: str, manifest: manifests.Manifest
    ) -> Iterator[Request]:
        for child in manifest.platforms:
            platform = {
                "os": child.platform.os,
                "architecture": child.platform.architecture,
                "variant": child.platform.variant,
                "os_version": child.platform.os_version,
            }
            if self.platform_wanted(platform) and self.known_digests.claim(
                child.digest
            ):
                yield self.manifest_request(repo_name, child.digest, platform)
        if self.attestations:
            for child in manifest.attestations:
                if self.known_digests.claim(child.digest):
                    yield self.manifest_request(repo_name, child.digest)
        if (
            self.config
            and manifest.kind == "image"
            and manifest.config_digest
            and self.known_digests.claim(manifest.config_digest)
        ):
            yield self.registry_request(
                repo_name,
                f"blobs/{manifest.config_digest}",
                callback=self.parse_config,
                cb_kwargs={"repo_name": repo_name, "digest": manifest.config_digest},
            )

    def parse_config(
        self, response: Response, repo_name: str, digest: str
    ) -> Iterator[Any]:
        if response.status == 404:
            self.logger.warning(
                "Config blob %(digest)s of %(repo)s is not in the registry",
                {"digest": digest, "repo": repo_name},
            )
            self.stats.inc_value("dockerhub/registry/config_not_found")
            self.known_digests.release(digest)
            return
        if not self.digest_matches(response, digest):
            return
        try:
            config = manifests.parse_config(response.body, digest)
        except manifests.ManifestError as exc:
            self.registry_error(response, digest, exc)
            return
        self.stats.inc_value("dockerhub/registry/configs")
        yield manifests.config_item(config, repo_name)

    # -- failures -------------------------------------------------------------

    def digest_matches(self, response: Response, digest: str) -> bool:
        actual = manifests.sha256_digest(response.body)
        if actual == digest:
            return True
        self.logger.error(
            "Content of %(url)s has digest %(actual)s, not %(digest)s; discarded",
            {"url": response.url, "actual": actual, "digest": digest},
        )
        self.stats.inc_value("dockerhub/registry/digest_mismatch")
        self.known_digests.release(digest)
        return False

    def registry_error(self, response: Response, digest: str, error: Exception) -> None:
        self.logger.error(
            "Unusable registry answer from %(url)s: %(error)s",
            {"url": response.url, "error": error},
        )
        self.stats.inc_value("dockerhub/registry/bad_answer")
        self.known_digests.release(digest)

    def log_failure(self, failure: Failure) -> None:
        """One ERROR line per request given up on, with its URL."""
        request = getattr(failure, "request", None)
        url = getattr(request, "url", "?")
        if request is not None and request.meta.get(meta_keys.GAVE_UP):
            # The retry middleware logged it, with the tries and the reason.
            self.logger.debug("Gave up on %(url)s", {"url": url})
            return
        self.logger.error(
            "Gave up on %(url)s: %(error)s",
            {"url": url, "error": failure.getErrorMessage()},
        )

    def registry_failed(self, failure: Failure) -> Iterator[PendingFetchItem]:
        request = getattr(failure, "request", None)
        if isinstance(failure.value, PullQuotaReached) and request is not None:
            # Not a failure: the quota is kept for the user; fetch it next time.
            yield PendingFetchItem(
                digest=request.cb_kwargs["digest"],
                repo_name=request.cb_kwargs["repo_name"],
                platform=request.cb_kwargs.get("platform") or {},
            )
            return
        self.log_failure(failure)
        self.stats.inc_value("dockerhub/registry/request_failed")
        if request is not None and "digest" in request.cb_kwargs:
            self.known_digests.release(request.cb_kwargs["digest"])


def parse_platforms(value: str | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    entries = split_list(value)
    for entry in entries:
        parts = entry.split("/")
        if not 2 <= len(parts) <= 3 or not all(parts):
            raise SpiderArgumentError("platforms", value, PLATFORM_RULE)
    if not entries:
        raise SpiderArgumentError("platforms", value, PLATFORM_RULE)
    return frozenset(entries)


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
