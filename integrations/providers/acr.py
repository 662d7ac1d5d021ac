"""Azure Container Registry: listing with azure-containerregistry, pulls with ACR tokens.

Credentials, in order: an ACR token or admin user (``username`` + ``secret``: Basic on the ACR
API, documented at https://azure.github.io/acr/Token-BasicAuth.html); a service principal
(``tenant_id`` + ``client_id`` + ``secret``, azure-identity ``ClientSecretCredential``); or the
ambient ``DefaultAzureCredential`` (managed identity, workload identity; ``client_id`` picks a
user-assigned identity).

Pulls with Entra ID credentials use the exchange of https://azure.github.io/acr/AAD-OAuth.html:
``POST /oauth2/exchange`` (``grant_type=access_token``, ``service``, ``tenant``,
``access_token``) gives an ACR refresh token, which the Distribution client then presents as the
password of the user ``00000000-0000-0000-0000-000000000000`` to ``/oauth2/token`` for each
repository's pull scope (as ``az acr login --expose-token`` does).
The seams: :attr:`AcrProvider.client` (the SDK client) and :attr:`AcrProvider.credential`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import urlsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import SansIOHTTPPolicy

from integrations.crypto import Secret

from ._rest import RestApi, verify_for
from .base import CredentialField, Provider, ProviderError, PullAuth, TagInfo

__all__ = ["AcrProvider"]

AUDIENCE = "https://containerregistry.azure.net"
NULL_USER = "00000000-0000-0000-0000-000000000000"
T = TypeVar("T")


class _BasicAuthPolicy(SansIOHTTPPolicy):
    """Sends an ACR token's username/password as Basic credentials (ACR API ``registry_auth``)."""

    def __init__(self, username: str, secret: Secret) -> None:
        self._username = username
        self._secret = secret

    def on_request(self, request: Any) -> None:
        pair = f"{self._username}:{self._secret.reveal()}".encode()
        request.http_request.headers.setdefault(
            "Authorization", "Basic " + base64.b64encode(pair).decode()
        )


class AcrProvider(Provider):
    kind = "acr"
    label = "Azure Container Registry"
    credential_fields = (
        CredentialField(
            "url", "Login server", required=True, help_text="For example myregistry.azurecr.io"
        ),
        CredentialField("tenant_id", "Tenant ID", help_text="For a service principal."),
        CredentialField(
            "client_id",
            "Client ID",
            help_text="Service principal application ID, or a user-assigned managed identity.",
        ),
        CredentialField(
            "username", "Token name", help_text="For an ACR token (scope map) or the admin user."
        ),
        CredentialField(
            "secret", "Client secret or token password", secret=True, help_text="Empty: ambient."
        ),
    )
    prerequisites = (
        "Give the service principal or managed identity the AcrPull role on the registry, plus "
        "Reader on it to list repositories (or the Container Registry Repository Catalog Lister "
        "role). With an ACR token instead, its scope map needs content/read and metadata/read on "
        "the repositories to scan."
    )
    page_size = 100
    retry_total = 3  # azure-core retries (429 honouring Retry-After, 5xx, timeouts)
    retry_backoff = 0.5

    def __init__(self, config) -> None:
        super().__init__(config)
        self.api = RestApi(
            "Azure Container Registry", timeout=config.timeout, verify=verify_for(config)
        )

    # ---- the seams ----------------------------------------------------------------------------

    @cached_property
    def credential(self) -> Any:
        """The azure-identity credential (None for an ACR token, which uses Basic)."""
        config = self.config
        if config.username:
            return None
        from azure.identity import ClientSecretCredential, DefaultAzureCredential

        if config.tenant_id and config.client_id and config.secret:
            return ClientSecretCredential(
                config.tenant_id, config.client_id, config.secret.reveal()
            )
        return DefaultAzureCredential(managed_identity_client_id=config.client_id or None)

    @cached_property
    def client(self) -> Any:
        """The azure-containerregistry ``ContainerRegistryClient``."""
        from azure.containerregistry import ContainerRegistryClient

        kwargs: dict[str, Any] = {
            "audience": AUDIENCE,
            "connection_verify": verify_for(self.config),
            "connection_timeout": self.config.timeout,
            "read_timeout": self.config.timeout,
            "retry_total": self.retry_total,
            "retry_backoff_factor": self.retry_backoff,
        }
        if self.config.username:
            kwargs["per_call_policies"] = [
                _BasicAuthPolicy(self.config.username, self.config.secret)
            ]
        return ContainerRegistryClient(self._endpoint(), self.credential, **kwargs)

    # ---- the provider interface --------------------------------------------------------------

    def check(self) -> None:
        """List one repository and its tags, and check the registry accepts the pull credential
        (``GET /v2/``); raise ProviderError."""
        names = self._call(
            lambda: self.client.list_repository_names(results_per_page=1), "the repository list"
        )
        first = next(self._iterate(names, "the repository list"), None)
        if first is not None:
            next(iter(self.tags(first)), None)
        self.distribution().ping()

    def repositories(self) -> Iterator[str]:
        """Yield every repository name (all pages)."""
        pages = self._call(
            lambda: self.client.list_repository_names(results_per_page=self.page_size),
            "the repository list",
        )
        yield from self._iterate(pages, "the repository list")

    def tags(self, repository: str) -> Iterator[TagInfo]:
        """Yield the tags of ``repository``, most recently updated first (all pages)."""
        what = f"repository {repository!r}"
        pages = self._call(
            lambda: self.client.list_tag_properties(
                repository, order_by="timedesc", results_per_page=self.page_size
            ),
            what,
        )
        for tag in self._iterate(pages, what):
            yield TagInfo(tag.name, tag.digest, tag.last_updated_on)

    def pull_auth(self) -> PullAuth:
        """Basic credentials for the registry's token service: the ACR token itself, or the
        null user with an ACR refresh token from the Entra ID exchange."""
        base = (self.config.registry_endpoint or self._endpoint()).rstrip("/")
        verify = verify_for(self.config)
        if self.config.username:
            return PullAuth(
                base, username=self.config.username, password=self.config.secret, verify=verify
            )
        return PullAuth(
            base, username=NULL_USER, password=Secret(self._refresh_token()), verify=verify
        )

    # ---- helpers ------------------------------------------------------------------------------

    def _endpoint(self) -> str:
        url = self.config.api_endpoint or self.config.url
        return url if "://" in url else f"https://{url}"

    def _refresh_token(self) -> str:
        """Exchange an Entra ID access token for an ACR refresh token (POST /oauth2/exchange)."""
        aad = self._call(
            lambda: self.credential.get_token(f"{AUDIENCE}/.default"), "Entra ID sign-in"
        )
        form = {
            "grant_type": "access_token",
            "service": urlsplit(self._endpoint()).netloc,
            "access_token": aad.token,
        }
        if self.config.tenant_id:
            form["tenant"] = self.config.tenant_id
        response = self.api.request("POST", f"{self._endpoint()}/oauth2/exchange", data=form)
        if response.status_code in (401, 403):
            raise ProviderError(
                "Azure Container Registry refused the Entra ID token: give the identity the "
                "AcrPull role on the registry.",
                permanent=True,
            )
        if response.status_code >= 400:
            raise ProviderError(
                f"Azure Container Registry token exchange answered HTTP {response.status_code}.",
                permanent=response.status_code < 500,
            )
        return response.json()["refresh_token"]

    def _iterate(self, items: Any, what: str) -> Iterator[Any]:
        """Iterate an SDK pager, turning errors raised while paging into ProviderErrors."""
        iterator = iter(items)
        while True:
            try:
                item = self._call(lambda: next(iterator), what)
            except StopIteration:
                return
            yield item

    def _call(self, call: Callable[[], T], what: str) -> T:
        """Run one SDK call; turn azure-core and azure-identity failures into ProviderErrors."""
        try:
            return call()
        except StopIteration:
            raise
        except ClientAuthenticationError as exc:
            if getattr(exc, "status_code", None) == 403:
                raise self._denied(what) from None
            raise ProviderError(
                "Azure rejected the credentials: check the tenant ID, client ID and secret "
                "(or the token name and password).",
                permanent=True,
            ) from None
        except ResourceNotFoundError:
            raise ProviderError(
                f"Azure Container Registry has no {what}.", permanent=True
            ) from None
        except HttpResponseError as exc:
            raise self._http_error(exc, what) from None
        except ServiceResponseError:
            raise ProviderError(
                f"Azure Container Registry did not answer in time ({what}); will retry."
            ) from None
        except ServiceRequestError:
            raise ProviderError(
                f"Cannot reach Azure Container Registry at {self._endpoint()}: check the login "
                "server name and this server's network access."
            ) from None
        except ValueError as exc:  # azure-identity: missing or malformed settings
            raise ProviderError(
                f"Azure credentials are incomplete: {type(exc).__name__}.", permanent=True
            ) from None

    def _http_error(self, exc: HttpResponseError, what: str) -> ProviderError:
        status = exc.status_code or 0
        if status == 401:
            return ProviderError(
                "Azure Container Registry rejected the credentials: check the secret or token.",
                permanent=True,
            )
        if status == 403:
            return self._denied(what)
        if status == 404:
            return ProviderError(f"Azure Container Registry has no {what}.", permanent=True)
        if status == 429 or status >= 500:
            return ProviderError(
                f"Azure Container Registry is busy or failing (HTTP {status}); will retry."
            )
        return ProviderError(
            f"Azure Container Registry answered HTTP {status} for {what}.", permanent=True
        )

    def _denied(self, what: str) -> ProviderError:
        return ProviderError(
            f"Azure Container Registry denied access to {what}: give the identity the AcrPull "
            "role and Reader on the registry (or add metadata/read and content/read to the "
            "token's scope map).",
            permanent=True,
        )
