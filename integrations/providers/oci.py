"""Generic OCI Distribution registry (self-hosted distribution, Harbor, GHCR, Quay, GitLab, ...).

Everything goes through the Distribution API (:mod:`.distribution`): ``/v2/_catalog`` for
repositories (or the configured list, for registries that refuse the catalog), ``tags/list`` for
tags, a ``HEAD`` per tag for its digest. The API has no push time, so ``tags()`` reads the image's
creation time (the ``org.opencontainers.image.created`` annotation, else the config's
``created``) for digests the caller doesn't already know; see :meth:`OciProvider.tags`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from .base import CredentialField, Provider, ProviderConfig, ProviderError, PullAuth, TagInfo
from .distribution import INDEX_TYPES, DistributionClient, Manifest

__all__ = ["OciProvider", "normalize_url", "parse_created"]

CREATED_ANNOTATION = "org.opencontainers.image.created"
# Reproducible builds stamp images with the epoch (or 1980-01-01 for zip-era tools): no date.
EARLIEST_REAL_DATE = datetime(1990, 1, 1, tzinfo=UTC)
_FRACTION = re.compile(r"(\.\d{6})\d+")


def normalize_url(url: str) -> str:
    """``host:port`` -> ``https://host:port``; ``http(s)://...`` kept; no trailing slash."""
    url = url.strip().rstrip("/")
    if not url:
        raise ProviderError(
            "give the registry URL, for example registry.example.com:5000", permanent=True
        )
    if "://" not in url:
        url = "https://" + url
    if not url.startswith(("https://", "http://")):
        raise ProviderError(f"{url!r} is not an http(s) registry URL", permanent=True)
    return url


def parse_created(value: object) -> datetime | None:
    """An RFC 3339 time (nanoseconds allowed) as an aware UTC datetime; None when missing,
    unreadable, or an obviously fake reproducible-build date (before 1990)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when if when >= EARLIEST_REAL_DATE else None


class OciProvider(Provider):
    kind = "oci"
    label = "Generic OCI registry"
    credential_fields = (
        CredentialField(
            "url",
            "Registry URL",
            required=True,
            help_text="For example registry.example.com:5000 (https) or http://10.0.0.5:5000 "
            "for a lab registry without TLS.",
        ),
        CredentialField("username", "Username", help_text="Empty for anonymous pulls."),
        CredentialField("secret", "Password or token", secret=True),
        CredentialField(
            "repositories",
            "Repositories",
            help_text="Needed when the registry does not list its catalog (GHCR, Quay, GitLab); "
            "empty: every repository /v2/_catalog lists.",
        ),
    )
    prerequisites = (
        "The registry must speak the OCI Distribution API (/v2/). Give an account or robot "
        "token with pull permission on the repositories to scan; listing every repository also "
        "needs permission on /v2/_catalog (Harbor: a robot account with 'list repository'), "
        "otherwise enter the repositories by name. Push dates come from each image's creation "
        "time, or the time regscan first saw it."
    )
    page_size = 100

    def __init__(self, config: ProviderConfig, *, client: DistributionClient | None = None):
        super().__init__(config)
        self._client = client

    @property
    def client(self) -> DistributionClient:
        """The Distribution client (the seam tests may replace)."""
        if self._client is None:
            self._client = self.distribution()
        return self._client

    @client.setter
    def client(self, value: DistributionClient) -> None:
        self._client = value

    # ---- the provider interface --------------------------------------------------------------

    def check(self) -> None:
        """Ping with the credentials, then read the catalog (or each configured repository's
        tags); raise ProviderError saying what to fix."""
        self.client.ping()
        if self.config.repositories:
            for repository in self.config.repositories:
                next(iter(self.client.list_tags(repository)), None)
        else:
            next(iter(self.repositories()), None)

    def repositories(self) -> Iterator[str]:
        """The configured repositories, else every repository of the catalog (all pages).

        A refused catalog raises a permanent ProviderError asking for the repository list."""
        if self.config.repositories:
            yield from dict.fromkeys(r.strip("/") for r in self.config.repositories if r.strip())
            return
        try:
            yield from self.client.catalog(page_size=self.page_size)
        except ProviderError as exc:
            if not exc.permanent or not _catalog_refused(exc):
                raise
            raise ProviderError(
                f"{exc.message}. This registry does not let these credentials list its "
                "repositories: enter the repositories to scan in the integration's settings.",
                permanent=True,
            ) from None

    def tags(
        self,
        repository: str,
        known: Mapping[str, tuple[datetime | None, str | None]] | None = None,
    ) -> Iterator[TagInfo]:
        """Yield every tag of ``repository`` with its digest (one ``HEAD`` per tag).

        ``known`` maps digests the caller already has to the ``(pushed_at, pushed_at_source)``
        it stored for them; for those digests nothing else is fetched and the stored pair is
        returned as is. For other digests the manifest (and, without a creation annotation,
        the config) is read: ``pushed_at_source`` is ``"config"`` with the image's creation
        time, or ``None`` with ``pushed_at`` None when the image has none (the caller then
        uses the time it first saw the digest). A tag whose manifest can't be read (schema 1,
        an artifact, gone since the listing) is still yielded, without a push time."""
        created: dict[str, datetime | None] = {}
        for tag in self.client.list_tags(repository):
            try:
                digest = self.client.head_manifest(repository, tag).digest
            except ProviderError as exc:
                if exc.permanent and "not found" in exc.message:
                    continue  # deleted between the listing and the HEAD
                raise
            if known is not None and digest in known:
                pushed_at, source = known[digest]
                yield TagInfo(tag, digest, pushed_at, source)
                continue
            if digest not in created:
                created[digest] = self._created(repository, digest)
            when = created[digest]
            yield TagInfo(tag, digest, when, "config" if when else None)

    def pull_auth(self) -> PullAuth:
        """``registry_endpoint`` (if set) or ``url``, with the username and password/token."""
        if self.config.insecure:
            verify: bool | str = False
        else:
            verify = self.config.ca_bundle or True
        return PullAuth(
            base_url=normalize_url(self.config.registry_endpoint or self.config.url),
            username=self.config.username,
            password=self.config.secret,
            verify=verify,
        )

    # ---- push dates ---------------------------------------------------------------------------

    def _created(self, repository: str, digest: str) -> datetime | None:
        """The image's creation time (of the first platform for an index), or None."""
        try:
            manifest = self.client.get_manifest(repository, digest)
            if manifest.media_type in INDEX_TYPES:
                when = parse_created(_annotation(manifest))
                child = _first_image(manifest)
                if when or not child:
                    return when
                manifest = self.client.get_manifest(repository, child)
            when = parse_created(_annotation(manifest))
            config = manifest.data.get("config")
            if when or not isinstance(config, dict) or not isinstance(config.get("digest"), str):
                return when
            return parse_created(
                self.client.get_config(repository, config["digest"]).get("created")
            )
        except ProviderError as exc:
            if not exc.permanent:
                raise
            return None  # unreadable image: no push time; scanning it reports the reason


def _annotation(manifest: Manifest) -> object:
    annotations = manifest.data.get("annotations")
    return annotations.get(CREATED_ANNOTATION) if isinstance(annotations, dict) else None


def _first_image(index: Manifest) -> str:
    """The digest of the index's first real platform image ("" when there is none)."""
    for entry in index.data.get("manifests") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            continue
        annotations = entry.get("annotations") or {}
        platform = entry.get("platform") or {}
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        if platform.get("os") == "unknown" or entry.get("mediaType") in INDEX_TYPES:
            continue
        return entry["digest"]
    return ""


def _catalog_refused(exc: ProviderError) -> bool:
    """Whether the registry answered the catalog request with a refusal (401 for lack of
    scope, 403, 404 or another 4xx naming the catalog), not a TLS, guard or login failure."""
    return exc.message.startswith(("401:", "403:")) or "catalog" in exc.message
