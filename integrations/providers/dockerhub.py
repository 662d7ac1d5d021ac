"""Docker Hub (private repositories): listing through the Hub API, pulls from registry-1.docker.io.

Hub API reference: https://docs.docker.com/reference/api/hub/latest/
- ``POST /v2/auth/token`` ``{"identifier", "secret"}`` -> ``{"access_token"}`` (a JWT valid ten
  minutes; the older ``/v2/users/login`` is deprecated),
- ``GET /v2/namespaces/{namespace}/repositories?page_size=`` and
  ``GET /v2/namespaces/{namespace}/repositories/{repository}/tags?page_size=``: pages of
  ``{"count", "next", "previous", "results"}`` where ``next`` is the full URL of the next page;
  a tag has ``name``, ``digest`` and ``tag_last_pushed``.
- Rate limits: ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` on API answers, 429 with
  ``Retry-After`` when exceeded. Pulls have their own quota, reported by the registry in
  ``ratelimit-limit``/``ratelimit-remaining`` (``"100;w=21600"``) on manifest answers.
The one seam is :attr:`DockerHubProvider.api` (its ``session``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

import requests

from ._rest import RestApi, verify_for
from .base import CredentialField, Provider, ProviderError, PullAuth, TagInfo

if TYPE_CHECKING:
    from .distribution import DistributionClient

__all__ = ["DockerHubProvider"]

HUB_API = "https://hub.docker.com"
HUB_REGISTRY = "https://registry-1.docker.io"
TOKEN_LIFETIME = 9 * 60  # seconds: the Hub JWT lives ten minutes; renew a minute early


def parse_time(value: str | None) -> datetime | None:
    """Parse the Hub's RFC 3339 timestamps (``2021-01-05T21:06:53.506400Z``); None if absent."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_ratelimit(value: str | None) -> int | None:
    """``"100;w=21600"`` -> 100; None if absent or unreadable."""
    try:
        return int((value or "").split(";")[0])
    except ValueError:
        return None


class DockerHubProvider(Provider):
    kind = "dockerhub"
    label = "Docker Hub"
    credential_fields = (
        CredentialField("username", "Docker Hub username", required=True),
        CredentialField(
            "secret",
            "Personal access token",
            required=True,
            secret=True,
            help_text="A personal access token with the Read-only scope.",
        ),
        CredentialField(
            "namespaces",
            "Namespaces",
            help_text="Organizations or users whose repositories to scan; empty: your username.",
        ),
    )
    prerequisites = (
        "Create a personal access token with the Read-only (repo:read) scope under Account "
        "settings > Personal access tokens. To scan an organization's repositories, the account "
        "needs read access to them (a team with Read permission)."
    )
    page_size = 100  # the Hub API maximum

    def __init__(self, config) -> None:
        super().__init__(config)
        self.api = RestApi("the Docker Hub API", timeout=config.timeout, verify=verify_for(config))
        self._token = ""
        self._token_expires = 0.0
        self._state: dict = {}

    @property
    def state(self) -> dict:
        """Remaining quotas: ``api_ratelimit_remaining``/``_limit`` (Hub API) and
        ``pull_ratelimit_remaining``/``_limit`` (registry pulls), once seen."""
        return self._state

    # ---- the provider interface --------------------------------------------------------------

    def check(self) -> None:
        """Log in, list one page of every namespace and check the registry accepts the token
        (``GET /v2/``); raise ProviderError saying what to fix."""
        for namespace in self.namespaces():
            url = self._repositories_url(namespace)
            self._get_json(url, what=f"namespace {namespace!r}")
        self.distribution().ping()

    def namespaces(self) -> tuple[str, ...]:
        """The configured namespaces, else the account's own."""
        return self.config.namespaces or (self.config.username,)

    def repositories(self) -> Iterator[str]:
        """Yield ``namespace/name`` for every repository of every namespace (all pages)."""
        for namespace in self.namespaces():
            for repo in self._results(
                self._repositories_url(namespace), what=f"namespace {namespace!r}"
            ):
                yield f"{repo.get('namespace') or namespace}/{repo['name']}"

    def tags(self, repository: str) -> Iterator[TagInfo]:
        """Yield the tags of ``namespace/name`` with ``tag_last_pushed`` as the push date."""
        namespace, _, name = repository.partition("/")
        if not name:
            namespace, name = self.namespaces()[0], namespace
        url = (
            f"{self._api_root()}/v2/namespaces/{quote(namespace, safe='')}/repositories/"
            f"{quote(name, safe='')}/tags?page_size={self.page_size}"
        )
        for tag in self._results(url, what=f"repository {namespace}/{name}"):
            pushed = parse_time(tag.get("tag_last_pushed") or tag.get("last_updated"))
            yield TagInfo(tag["name"], tag.get("digest") or None, pushed)

    def pull_auth(self) -> PullAuth:
        """The username and token for registry-1.docker.io; its token service (auth.docker.io)
        is found from the registry's ``WWW-Authenticate`` challenge."""
        return PullAuth(
            base_url=(self.config.registry_endpoint or HUB_REGISTRY).rstrip("/"),
            username=self.config.username,
            password=self.config.secret,
            verify=verify_for(self.config),
        )

    def distribution(self) -> DistributionClient:
        """The Distribution client, with a session that keeps the registry's pull quota."""
        from .distribution import DistributionClient

        session = requests.Session()
        session.hooks["response"].append(
            lambda response, **_: self.record_pull_quota(response.headers)
        )
        return DistributionClient(
            self.pull_auth(),
            timeout=self.config.timeout,
            max_concurrency=self.config.max_concurrency,
            allowed_networks=self.config.allowed_networks,
            session=session,
        )

    def record_pull_quota(self, headers: dict | requests.structures.CaseInsensitiveDict) -> None:
        """Keep the registry's ``ratelimit-*`` headers (from a manifest answer) in ``state``."""
        headers = requests.structures.CaseInsensitiveDict(headers)
        for key in ("limit", "remaining"):
            value = parse_ratelimit(headers.get(f"ratelimit-{key}"))
            if value is not None:
                self._state[f"pull_ratelimit_{key}"] = value

    # ---- Hub API ------------------------------------------------------------------------------

    def _api_root(self) -> str:
        return (self.config.api_endpoint or HUB_API).rstrip("/")

    def _repositories_url(self, namespace: str) -> str:
        return (
            f"{self._api_root()}/v2/namespaces/{quote(namespace, safe='')}/repositories"
            f"?page_size={self.page_size}"
        )

    def _login(self) -> str:
        """Return a Hub JWT, from cache or ``POST /v2/auth/token``."""
        if self._token and time.monotonic() < self._token_expires:
            return self._token
        response = self.api.request(
            "POST",
            f"{self._api_root()}/v2/auth/token",
            json={"identifier": self.config.username, "secret": self.config.secret.reveal()},
        )
        self._record_api_quota(response)
        if response.status_code in (401, 403):
            raise ProviderError(
                f"Docker Hub refused the login of {self.config.username!r}: check the username "
                "and the personal access token (it may be revoked or expired).",
                permanent=True,
            )
        self._raise_for_status(response, what="login")
        self._token = response.json()["access_token"]
        self._token_expires = time.monotonic() + TOKEN_LIFETIME
        return self._token

    def _results(self, url: str, *, what: str) -> Iterator[dict]:
        """Yield ``results`` of every page, following ``next`` URLs."""
        while url:
            page = self._get_json(url, what=what)
            yield from page.get("results") or ()
            url = page.get("next") or ""

    def _get_json(self, url: str, *, what: str) -> dict:
        response = self.api.request(
            "GET", url, headers={"Authorization": f"Bearer {self._login()}"}
        )
        self._record_api_quota(response)
        if response.status_code == 401:  # the JWT expired early: log in again, once
            self._token = ""
            response = self.api.request(
                "GET", url, headers={"Authorization": f"Bearer {self._login()}"}
            )
        self._raise_for_status(response, what=what)
        return response.json()

    def _raise_for_status(self, response: requests.Response, *, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status == 401:
            raise ProviderError(
                "Docker Hub rejected the token: check the personal access token.", permanent=True
            )
        if status == 403:
            raise ProviderError(
                f"Docker Hub denied access to {what}: the account {self.config.username!r} needs "
                "read access to it (and the access token the Read-only scope or more).",
                permanent=True,
            )
        if status == 404:
            raise ProviderError(
                f"Docker Hub has no {what} (or hides it from this account).", permanent=True
            )
        raise ProviderError(
            f"Docker Hub API answered HTTP {status} for {what}.", permanent=status < 500
        )

    def _record_api_quota(self, response: requests.Response) -> None:
        for key in ("limit", "remaining", "reset"):
            value = parse_ratelimit(response.headers.get(f"X-RateLimit-{key.title()}"))
            if value is not None:
                self._state[f"api_ratelimit_{key}"] = value
