"""Azure Container Registry provider: the real azure-containerregistry SDK against an HTTPS
stand-in of the ACR data-plane API (OAuth2 exchange, catalog, tags), pulls through the stand-in's
token service from the real registry behind it, and unit tests with the SDK client swapped."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from integrations.crypto import Secret
from integrations.providers.acr import NULL_USER, AcrProvider
from integrations.providers.base import ProviderConfig, ProviderError
from tests.support.oci_images import make_layer
from tests.support.standins import assert_pulls, start_registry

AAD_TOKEN = "aad-access-token-for-tests"
SP_SECRET = "sp~client~secret~value"
TOKEN_PASSWORD = "acr-token-password-value"
PUSHED = {
    "1.0": datetime(2024, 1, 1, 8, 0, tzinfo=UTC),
    "1.1": datetime(2024, 2, 1, 8, 0, tzinfo=UTC),
    "latest": datetime(2024, 3, 1, 8, 0, tzinfo=UTC),
}


class FakeCredential:
    """Stands in for azure-identity (which would call the real Entra ID login)."""

    def __init__(self, token: str = AAD_TOKEN) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


def sp_provider(standin, credential=None, **overrides) -> AcrProvider:
    """A service-principal provider (tenant, client id, secret) with a fake Entra ID."""
    values = {
        "url": standin.url,
        "tenant_id": "tenant-1",
        "client_id": "client-1",
        "secret": Secret(SP_SECRET),
        "ca_bundle": standin.ca_file,
        "timeout": 5.0,
    }
    values.update(overrides)
    provider = AcrProvider(ProviderConfig(**values))
    provider.credential = credential or FakeCredential()
    return provider


def token_provider(standin, password: str = TOKEN_PASSWORD) -> AcrProvider:
    """An ACR-token provider (username + password)."""
    config = ProviderConfig(
        url=standin.url,
        username="scanner",
        secret=Secret(password),
        ca_bundle=standin.ca_file,
        timeout=5.0,
    )
    return AcrProvider(config)


@pytest.fixture(scope="module")
def acr_registry(tmp_path_factory):
    """app (1.0, 1.1, latest), web and team/api, shared by the module's tests (read only)."""
    registry = start_registry(tmp_path_factory.mktemp("acr-registry"))
    digests = {}
    for tag, when in PUSHED.items():
        digests[tag] = registry.push_image("app", tag, [make_layer({"v": tag.encode()})])
        registry.set_push_time("app", tag, when)
    for repo in ("web", "team/api"):
        registry.push_image(repo, "1", [make_layer({"name": repo.encode()})])
    yield registry, digests
    registry.stop()


@pytest.fixture
def acr(acr_registry, acr_standin):
    """A fresh HTTPS ACR stand-in (tokens, faults) in front of the registry."""
    registry, digests = acr_registry
    standin = acr_standin(registry)
    standin.aad_tokens.add(AAD_TOKEN)
    standin.users["scanner"] = TOKEN_PASSWORD
    return registry, standin, digests


@pytest.mark.slow
def test_it_lists_repositories_and_tags_newest_first_across_pages(acr):
    _registry, standin, digests = acr
    provider = sp_provider(standin)
    provider.page_size = 2

    assert list(provider.repositories()) == ["app", "team/api", "web"]
    tags = [(t.tag, t.digest, t.pushed_at) for t in provider.tags("app")]

    assert tags == [(tag, digests[tag], PUSHED[tag]) for tag in ("latest", "1.1", "1.0")]
    assert any("last=" in path for path in standin.paths("/acr/v1/_catalog"))
    assert any("last=" in path for path in standin.paths("/acr/v1/app/_tags"))
    assert standin.paths("/oauth2/exchange")  # the SDK exchanged the Entra ID token


@pytest.mark.slow
def test_it_pulls_with_a_refresh_token_from_the_exchange(acr):
    registry, standin, digests = acr
    provider = sp_provider(standin)

    auth = provider.pull_auth()
    assert auth.username == NULL_USER and auth.password.reveal() in standin.refresh_tokens
    assert assert_pulls(provider, "app", "1.1", registry) == digests["1.1"]
    assert standin.paths("/oauth2/token?")  # Basic (null user, refresh token) -> access token


@pytest.mark.slow
def test_an_acr_token_lists_and_pulls_with_basic_credentials(acr):
    registry, standin, digests = acr
    provider = token_provider(standin)

    assert list(provider.repositories()) == ["app", "team/api", "web"]
    assert [t.tag for t in provider.tags("team/api")] == ["1"]
    assert assert_pulls(provider, "app", "1.0", registry) == digests["1.0"]
    assert not standin.paths("/oauth2/exchange")


@pytest.mark.slow
def test_check_passes(acr):
    _registry, standin, _digests = acr
    sp_provider(standin).check()


@pytest.mark.slow
def test_a_wrong_token_password_is_a_clear_permanent_error(acr):
    _registry, standin, _digests = acr

    with pytest.raises(ProviderError) as caught:
        list(token_provider(standin, password="wrong-password-value").repositories())

    assert caught.value.permanent
    assert "rejected the credentials" in caught.value.message
    assert "wrong-password-value" not in str(caught.value)


@pytest.mark.slow
def test_an_entra_token_the_registry_refuses_is_permanent(acr):
    _registry, standin, _digests = acr
    provider = sp_provider(standin, credential=FakeCredential("not-accepted"))

    with pytest.raises(ProviderError) as caught:
        list(provider.repositories())

    assert caught.value.permanent
    assert SP_SECRET not in str(caught.value)


@pytest.mark.slow
def test_a_forbidden_repository_names_the_roles(acr):
    _registry, standin, _digests = acr
    standin.denied.add("app")

    with pytest.raises(ProviderError) as caught:
        list(sp_provider(standin).tags("app"))

    assert caught.value.permanent
    assert "AcrPull" in caught.value.message and "Reader" in caught.value.message


@pytest.mark.slow
def test_an_unknown_repository_is_a_permanent_not_found(acr):
    _registry, standin, _digests = acr

    with pytest.raises(ProviderError) as caught:
        list(sp_provider(standin).tags("nope"))

    assert caught.value.permanent
    assert "nope" in caught.value.message


@pytest.mark.slow
def test_it_waits_for_retry_after_then_succeeds(acr):
    _registry, standin, _digests = acr
    standin.fail("/acr/v1/_catalog", 429, headers={"Retry-After": "1"})

    assert list(sp_provider(standin).repositories()) == ["app", "team/api", "web"]
    assert len(standin.paths("/acr/v1/_catalog")) >= 2  # the 429, then azure-core's retry


@pytest.mark.slow
def test_it_gives_up_on_endless_429_with_a_transient_error(acr):
    _registry, standin, _digests = acr
    provider = sp_provider(standin)
    provider.retry_total, provider.retry_backoff = 2, 0.01
    standin.fail("/acr/v1/_catalog", 429, times=10)

    with pytest.raises(ProviderError) as caught:
        list(provider.repositories())

    assert not caught.value.permanent
    assert "429" in caught.value.message


@pytest.mark.slow
def test_a_timeout_is_a_transient_error(acr):
    _registry, standin, _digests = acr
    provider = sp_provider(standin, timeout=0.3)
    provider.retry_total, provider.retry_backoff = 1, 0.01
    standin.fail("/acr/v1/_catalog", 0, times=4, delay=1.0)

    with pytest.raises(ProviderError) as caught:
        list(provider.repositories())

    assert not caught.value.permanent
    assert "did not answer in time" in caught.value.message


# ---- unit tests: the SDK client swapped --------------------------------------------------------


@dataclass
class TagProps:
    name: str
    digest: str
    last_updated_on: datetime


class FakeClient:
    def __init__(self, **answers) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple, dict]] = []

    def _answer(self, name: str, *args, **kwargs):
        self.calls.append((name, args, kwargs))
        answer = self.answers[name]
        if isinstance(answer, Exception):
            raise answer
        return iter(answer)

    def list_repository_names(self, **kwargs):
        return self._answer("list_repository_names", **kwargs)

    def list_tag_properties(self, repository, **kwargs):
        return self._answer("list_tag_properties", repository, **kwargs)


def unit_provider(client: FakeClient) -> AcrProvider:
    provider = AcrProvider(
        ProviderConfig(
            url="myregistry.azurecr.io", username="scanner", secret=Secret(TOKEN_PASSWORD)
        )
    )
    provider.client = client
    return provider


def test_it_asks_for_tags_newest_first_and_maps_their_properties():
    when = datetime(2024, 5, 1, tzinfo=UTC)
    client = FakeClient(list_tag_properties=[TagProps("v1", "sha256:" + "c" * 64, when)])

    (info,) = unit_provider(client).tags("team/app")

    assert (info.tag, info.digest, info.pushed_at) == ("v1", "sha256:" + "c" * 64, when)
    assert client.calls == [
        ("list_tag_properties", ("team/app",), {"order_by": "timedesc", "results_per_page": 100})
    ]


def test_a_rate_limit_after_retries_is_transient():
    client = FakeClient(list_repository_names=HttpResponseError(message="Too Many Requests"))
    client.answers["list_repository_names"].status_code = 429

    with pytest.raises(ProviderError) as caught:
        list(unit_provider(client).repositories())

    assert not caught.value.permanent


def test_an_invalid_client_secret_is_permanent():
    client = FakeClient(
        list_repository_names=ClientAuthenticationError(
            "AADSTS7000215: Invalid client secret provided."
        )
    )

    with pytest.raises(ProviderError) as caught:
        list(unit_provider(client).repositories())

    assert caught.value.permanent
    assert "tenant ID, client ID and secret" in caught.value.message


def test_the_endpoint_gets_https_and_an_acr_token_pulls_with_basic():
    provider = unit_provider(FakeClient())

    auth = provider.pull_auth()

    assert auth.base_url == "https://myregistry.azurecr.io"
    assert (auth.username, auth.password.reveal()) == ("scanner", TOKEN_PASSWORD)
    assert provider.credential is None


def test_it_declares_its_fields():
    assert AcrProvider.secret_fields() == ("secret",)
    assert "AcrPull" in AcrProvider.prerequisites


@pytest.mark.slow
def test_a_rescan_lists_tags_without_any_manifest_request(acr):
    _registry, standin, digests = acr
    provider = sp_provider(standin)
    list(provider.tags("app"))  # the first scan exchanges the Entra ID token
    before = len(standin.requests)

    tags = list(provider.tags("app"))

    routes = [(r.method, r.route) for r in standin.requests[before:]]
    # The SDK answers each call's 401 challenge again (with its cached refresh token).
    assert routes == [
        ("GET", "/acr/v1/app/_tags"),
        ("POST", "/oauth2/token"),
        ("GET", "/acr/v1/app/_tags"),
    ]
    assert {t.tag: t.digest for t in tags} == digests


def test_it_picks_the_azure_identity_credential_from_the_settings():
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    service_principal = ProviderConfig(
        url="r.azurecr.io", tenant_id="t", client_id="c", secret=Secret(SP_SECRET)
    )
    managed_identity = ProviderConfig(url="r.azurecr.io", client_id="c")

    assert isinstance(AcrProvider(service_principal).credential, ClientSecretCredential)
    assert isinstance(AcrProvider(managed_identity).credential, DefaultAzureCredential)
    assert SP_SECRET not in repr(AcrProvider(service_principal).config)
