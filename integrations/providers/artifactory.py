"""JFrog Artifactory (Cloud or self-hosted): Docker repositories through the Artifactory REST API.

Repository names are reported as ``<repository key>/<image>`` (``docker-local/team/app``): the
key is where Artifactory keeps the image, and the same name pulls through the Docker V2 API with
Artifactory's "repository path" method (``GET https://<host>/v2/<key>/<image>/manifests/<tag>``).

REST API (https://jfrog.com/help/r/jfrog-rest-apis/):
- Get Repositories: ``GET /artifactory/api/repositories?packageType=docker`` ->
  ``[{"key", "type", "url", "packageType"}]`` (used when no keys are configured),
- List Docker Repositories: ``GET /artifactory/api/docker/{key}/v2/_catalog?n=&last=`` ->
  ``{"repositories": [...]}``,
- List Docker Tags: ``GET /artifactory/api/docker/{key}/v2/{image}/tags/list?n=&last=`` ->
  ``{"name", "tags": [...]}``,
- File Info: ``GET /artifactory/api/storage/{key}/{image}/{tag}/manifest.json`` ->
  ``{"lastModified", "checksums": {"sha256"}}``: the push date and the manifest digest
  (``list.manifest.json`` for multi-platform images).
Authentication: Basic (username + password, API key or identity token), or ``Authorization:
Bearer`` with an access token when no username is given. The seam is
:attr:`ArtifactoryProvider.api` (its ``session``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from urllib.parse import quote, urljoin

import requests

from ._rest import RestApi, verify_for
from .base import CredentialField, Provider, ProviderError, PullAuth, TagInfo

__all__ = ["ArtifactoryProvider"]

MANIFEST_FILES = ("manifest.json", "list.manifest.json")


def parse_time(value: str | None) -> datetime | None:
    """Parse Artifactory's ISO 8601 times (``2024-05-01T10:00:00.123Z`` or ``+02:00``)."""
    if not value:
        return None
    value = value.replace("Z", "+00:00")
    if len(value) > 5 and value[-5] in "+-" and value[-3] != ":":  # +0200 -> +02:00
        value = f"{value[:-2]}:{value[-2:]}"
    return datetime.fromisoformat(value)


class ArtifactoryProvider(Provider):
    kind = "artifactory"
    label = "JFrog Artifactory"
    credential_fields = (
        CredentialField(
            "url", "Artifactory URL", required=True, help_text="For example https://acme.jfrog.io"
        ),
        CredentialField(
            "username", "Username", help_text="Empty when the secret is an access token."
        ),
        CredentialField(
            "secret",
            "Identity token, access token or API key",
            required=True,
            secret=True,
        ),
        CredentialField(
            "repositories",
            "Docker repository keys",
            help_text="For example docker-local; empty: every Docker repository you can read.",
        ),
    )
    prerequisites = (
        "The user (or access token) needs the Read permission on the Docker repositories to "
        "scan, granted in Administration > User Management > Permissions. Listing every Docker "
        "repository also needs read access to their configuration list."
    )
    page_size = 100

    def __init__(self, config) -> None:
        super().__init__(config)
        self.api = RestApi("Artifactory", timeout=config.timeout, verify=verify_for(config))

    # ---- the provider interface --------------------------------------------------------------

    def check(self) -> None:
        """List the Docker repository keys and one catalog page of each, and check the Docker
        API accepts the credentials (``GET /v2/``); raise ProviderError."""
        for key in self.repository_keys():
            self._get(self._catalog_url(key, last=""), what=f"Docker repository {key!r}")
        self.distribution().ping()

    def repository_keys(self) -> list[str]:
        """The configured keys, else every Docker repository key the user can see."""
        if self.config.repositories:
            return list(self.config.repositories)
        repos = self._get(
            f"{self._root()}/api/repositories?packageType=docker", what="the repository list"
        ).json()
        return [
            repo["key"] for repo in repos if str(repo.get("packageType", "")).lower() == "docker"
        ]

    def repositories(self) -> Iterator[str]:
        """Yield ``<key>/<image>`` for every image in every Docker repository (all pages)."""
        for key in self.repository_keys():
            for image in self._paged(
                lambda last, key=key: self._catalog_url(key, last),
                "repositories",
                what=f"Docker repository {key!r}",
            ):
                yield f"{key}/{image}"

    def tags(self, repository: str) -> Iterator[TagInfo]:
        """Yield the tags of ``<key>/<image>``; push date and digest from the storage API."""
        key, image = self._split(repository)
        names = self._paged(
            lambda last: self._tags_url(key, image, last), "tags", what=f"image {repository!r}"
        )
        for tag in names:
            yield self._tag_info(key, image, tag)

    def pull_auth(self) -> PullAuth:
        """The Artifactory host, with Basic credentials (or a bearer access token)."""
        base = self.config.registry_endpoint or self._host()
        common = {"base_url": base.rstrip("/"), "verify": verify_for(self.config)}
        if self.config.username:
            return PullAuth(username=self.config.username, password=self.config.secret, **common)
        return PullAuth(bearer=self.config.secret, **common)

    # ---- REST calls ---------------------------------------------------------------------------

    def _host(self) -> str:
        """``https://acme.jfrog.io`` from the configured URL (with or without /artifactory)."""
        url = (self.config.api_endpoint or self.config.url).rstrip("/")
        return url.removesuffix("/artifactory")

    def _root(self) -> str:
        return f"{self._host()}/artifactory"

    def _split(self, repository: str) -> tuple[str, str]:
        key, _, image = repository.partition("/")
        if not image:
            raise ProviderError(
                f"Artifactory repository names look like <repository key>/<image>; "
                f"got {repository!r}.",
                permanent=True,
            )
        return key, image

    def _catalog_url(self, key: str, last: str) -> str:
        url = f"{self._root()}/api/docker/{quote(key, safe='')}/v2/_catalog?n={self.page_size}"
        return url + (f"&last={quote(last, safe='')}" if last else "")

    def _tags_url(self, key: str, image: str, last: str) -> str:
        url = (
            f"{self._root()}/api/docker/{quote(key, safe='')}/v2/{quote(image, safe='/')}"
            f"/tags/list?n={self.page_size}"
        )
        return url + (f"&last={quote(last, safe='')}" if last else "")

    def _tag_info(self, key: str, image: str, tag: str) -> TagInfo:
        """File Info of the tag's manifest.json (or list.manifest.json)."""
        for filename in MANIFEST_FILES:
            url = (
                f"{self._root()}/api/storage/{quote(key, safe='')}/{quote(image, safe='/')}/"
                f"{quote(tag, safe='')}/{filename}"
            )
            response = self._get(url, what=f"tag {key}/{image}:{tag}", missing_ok=True)
            if response is not None:
                info = response.json()
                sha256 = (info.get("checksums") or {}).get("sha256")
                return TagInfo(
                    tag,
                    f"sha256:{sha256}" if sha256 else None,
                    parse_time(info.get("lastModified")),
                )
        return TagInfo(tag, None, None, None)  # no manifest file: the caller dates it itself

    def _paged(self, url_for, key: str, *, what: str) -> Iterator[str]:
        """Yield ``key`` items of every page: ``Link: <...>; rel="next"`` or ``n``/``last``."""
        url, seen = url_for(""), set()
        while url and url not in seen:  # a server ignoring `last` must not loop us forever
            seen.add(url)
            response = self._get(url, what=what)
            items = response.json().get(key) or []
            yield from items
            link = response.links.get("next", {}).get("url")
            if link:
                url = urljoin(url, link)
            elif len(items) >= self.page_size:
                url = url_for(items[-1])
            else:
                url = ""

    def _get(self, url: str, *, what: str, missing_ok: bool = False) -> requests.Response | None:
        response = self.api.request("GET", url, **self._auth())
        if missing_ok and response.status_code == 404:
            return None
        self._raise_for_status(response, what=what)
        return response

    def _auth(self) -> dict:
        """``requests`` keyword arguments: Basic with a username, else a bearer access token."""
        if self.config.username:
            return {"auth": (self.config.username, self.config.secret.reveal())}
        return {"headers": {"Authorization": f"Bearer {self.config.secret.reveal()}"}}

    def _raise_for_status(self, response: requests.Response, *, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status == 401:
            raise ProviderError(
                "Artifactory rejected the credentials: check the username and the token "
                "(it may be revoked or expired).",
                permanent=True,
            )
        if status == 403:
            raise ProviderError(
                f"Artifactory denied access to {what}: give the user the Read permission on "
                "that Docker repository.",
                permanent=True,
            )
        if status == 404:
            raise ProviderError(f"Artifactory has no {what}.", permanent=True)
        raise ProviderError(
            f"Artifactory answered HTTP {status} for {what}.", permanent=status < 500
        )
