"""Docker Hub provider: Hub API listing against a stand-in, pulls from the real registry behind it,
and unit tests with the ``requests`` session swapped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.crypto import Secret
from integrations.providers.base import ProviderConfig, ProviderError
from integrations.providers.dockerhub import DockerHubProvider
from tests.support.oci_images import make_layer
from tests.support.standins import FakeSession, assert_pulls, start_registry
from tests.support.standins import json_response as response

PAT = "dckr_pat_Zr8kQ2-secret-value"
PUSHED = {
    "1.0": datetime(2024, 1, 1, 8, 0, tzinfo=UTC),
    "1.1": datetime(2024, 2, 1, 8, 0, tzinfo=UTC),
    "latest": datetime(2024, 3, 1, 8, 0, tzinfo=UTC),
}


def make_provider(standin, secret: str = PAT, **overrides) -> DockerHubProvider:
    values = {
        "username": "alice",
        "secret": Secret(secret),
        "namespaces": ("acme",),
        "api_endpoint": standin.url,
        "registry_endpoint": standin.url,
        "timeout": 5.0,
    }
    values.update(overrides)
    return DockerHubProvider(ProviderConfig(**values))


@pytest.fixture(scope="module")
def hub_registry(tmp_path_factory):
    """A real registry with acme/app (3 tags), acme/web, acme/tools and other/x, shared by the
    module's tests (they only read it)."""
    registry = start_registry(tmp_path_factory.mktemp("hub-registry"))
    digests = {}
    for tag, when in PUSHED.items():
        layer = make_layer({"etc/os-release": b"ID=alpine\n", "app/version": tag.encode()})
        digests[tag] = registry.push_image("acme/app", tag, [layer])
        registry.set_push_time("acme/app", tag, when)
    for repo in ("acme/web", "acme/tools", "other/x"):
        registry.push_image(repo, "1", [make_layer({"hello": repo.encode()})])
    yield registry, digests
    registry.stop()


@pytest.fixture
def hub(hub_registry, hub_standin):
    """A fresh Hub stand-in (its own tokens, quotas and faults) in front of the registry."""
    registry, digests = hub_registry
    standin = hub_standin(registry)
    standin.users["alice"] = PAT
    return registry, standin, digests


@pytest.mark.slow
def test_it_lists_repositories_and_tags_across_pages(hub):
    _registry, standin, digests = hub
    provider = make_provider(standin)
    provider.page_size = 2

    assert sorted(provider.repositories()) == ["acme/app", "acme/tools", "acme/web"]
    tags = {t.tag: t for t in provider.tags("acme/app")}

    assert {name: (t.digest, t.pushed_at) for name, t in tags.items()} == {
        tag: (digests[tag], PUSHED[tag]) for tag in PUSHED
    }
    assert any("page=2" in path for path in standin.paths("/repositories?"))
    assert any("page=2" in path for path in standin.paths("/tags?"))
    assert len(standin.paths("/v2/auth/token")) == 1  # the JWT is reused
    assert provider.state["api_ratelimit_limit"] == 180
    assert provider.state["api_ratelimit_remaining"] == standin.api_remaining


@pytest.mark.slow
def test_it_pulls_an_image_with_a_token_and_keeps_the_pull_quota(hub):
    registry, standin, digests = hub
    provider = make_provider(standin)

    assert assert_pulls(provider, "acme/app", "1.1", registry) == digests["1.1"]
    assert standin.paths("/token?")  # the registry token service was used
    assert provider.state["pull_ratelimit_limit"] == 100
    assert provider.state["pull_ratelimit_remaining"] == standin.pull_remaining < 100


@pytest.mark.slow
def test_check_passes_with_good_credentials(hub):
    _registry, standin, _digests = hub
    make_provider(standin).check()


@pytest.mark.slow
def test_a_wrong_token_is_a_clear_permanent_error(hub):
    _registry, standin, _digests = hub
    provider = make_provider(standin, secret="dckr_pat_wrong-one")

    with pytest.raises(ProviderError) as caught:
        provider.check()

    assert caught.value.permanent
    assert "personal access token" in caught.value.message
    assert "dckr_pat_wrong-one" not in str(caught.value)


@pytest.mark.slow
def test_a_forbidden_namespace_names_the_permission(hub):
    _registry, standin, _digests = hub
    standin.denied.add("acme")

    with pytest.raises(ProviderError) as caught:
        list(make_provider(standin).repositories())

    assert caught.value.permanent
    assert "read access" in caught.value.message and "'acme'" in caught.value.message
    assert PAT not in str(caught.value)


@pytest.mark.slow
def test_an_unknown_repository_is_a_permanent_not_found(hub):
    _registry, standin, _digests = hub

    with pytest.raises(ProviderError) as caught:
        list(make_provider(standin).tags("acme/nope"))

    assert caught.value.permanent
    assert "acme/nope" in caught.value.message


@pytest.mark.slow
def test_it_waits_for_retry_after_then_succeeds(hub):
    _registry, standin, _digests = hub
    provider = make_provider(standin)
    waits = []
    provider.api.sleep = waits.append  # record instead of sleeping
    standin.fail("/repositories?", 429, headers={"Retry-After": "2"})

    assert sorted(provider.repositories()) == ["acme/app", "acme/tools", "acme/web"]
    assert waits == [2.0]


@pytest.mark.slow
def test_it_gives_up_on_endless_429_with_a_transient_error(hub):
    _registry, standin, _digests = hub
    provider = make_provider(standin)
    provider.api.sleep = lambda seconds: None
    standin.fail("/repositories?", 429, times=10, headers={"Retry-After": "1"})

    with pytest.raises(ProviderError) as caught:
        list(provider.repositories())

    assert not caught.value.permanent
    assert "429" in caught.value.message


@pytest.mark.slow
def test_a_timeout_is_a_transient_error(hub):
    _registry, standin, _digests = hub
    provider = make_provider(standin, timeout=0.3)
    provider.api.max_attempts = 2
    provider.api.sleep = lambda seconds: None
    standin.fail("/repositories?", 0, times=2, delay=1.0)

    with pytest.raises(ProviderError) as caught:
        list(provider.repositories())

    assert not caught.value.permanent
    assert "did not answer" in caught.value.message


# ---- unit tests: the requests session swapped ------------------------------------------------


def unit_provider(session: FakeSession, **overrides) -> DockerHubProvider:
    values = {"username": "alice", "secret": Secret(PAT), **overrides}
    provider = DockerHubProvider(ProviderConfig(**values))
    provider.api.session = session
    provider.api.sleep = lambda seconds: None
    return provider


def test_it_logs_in_with_the_token_and_follows_next_urls():
    api = "https://hub.docker.com/v2"
    session = FakeSession(
        {
            f"{api}/auth/token": [response(200, {"access_token": "jwt-1"})],
            f"{api}/namespaces/alice/repositories?page_size=100": [
                response(
                    200,
                    {
                        "next": f"{api}/namespaces/alice/repositories?page=2",
                        "results": [{"name": "a", "namespace": "alice"}],
                    },
                )
            ],
            f"{api}/namespaces/alice/repositories?page=2": [
                response(200, {"next": None, "results": [{"name": "b", "namespace": "alice"}]})
            ],
        }
    )

    assert list(unit_provider(session).repositories()) == ["alice/a", "alice/b"]

    login = session.calls[0]
    assert login[0] == "POST" and login[2]["json"] == {"identifier": "alice", "secret": PAT}
    assert [c[2]["headers"]["Authorization"] for c in session.calls[1:]] == ["Bearer jwt-1"] * 2


def test_it_reads_tag_push_dates_and_digests():
    api = "https://hub.docker.com/v2"
    tag = {
        "name": "v1",
        "digest": "sha256:" + "a" * 64,
        "tag_last_pushed": "2021-01-05T21:06:53.506400Z",
    }
    session = FakeSession(
        {
            f"{api}/auth/token": [response(200, {"access_token": "jwt"})],
            f"{api}/namespaces/acme/repositories/app/tags": [
                response(200, {"next": None, "results": [tag]})
            ],
        }
    )

    (info,) = unit_provider(session).tags("acme/app")

    assert (info.tag, info.digest) == ("v1", tag["digest"])
    assert info.pushed_at == datetime(2021, 1, 5, 21, 6, 53, 506400, tzinfo=UTC)


def test_an_expired_jwt_is_renewed_once():
    api = "https://hub.docker.com/v2"
    session = FakeSession(
        {
            f"{api}/auth/token": [
                response(200, {"access_token": "old"}),
                response(200, {"access_token": "new"}),
            ],
            f"{api}/namespaces/alice/repositories": [
                response(401, {"message": "unauthorized"}),
                response(200, {"next": None, "results": []}),
            ],
        }
    )

    assert list(unit_provider(session).repositories()) == []
    assert session.calls[-1][2]["headers"]["Authorization"] == "Bearer new"


def test_a_server_error_is_retried_then_transient():
    session = FakeSession({"https://hub.docker.com/v2/auth/token": [response(503, {})] * 4})

    with pytest.raises(ProviderError) as caught:
        unit_provider(session).check()

    assert not caught.value.permanent
    assert len(session.calls) == 4


def test_pull_auth_points_at_docker_hub_with_the_token():
    auth = unit_provider(FakeSession({})).pull_auth()

    assert auth.base_url == "https://registry-1.docker.io"
    assert (auth.username, auth.password.reveal()) == ("alice", PAT)
    assert PAT not in repr(auth)


def test_it_declares_its_fields_and_keeps_the_token_secret():
    assert DockerHubProvider.secret_fields() == ("secret",)
    assert "Read-only" in DockerHubProvider.prerequisites


@pytest.mark.slow
def test_a_rescan_lists_tags_with_one_api_request_and_no_manifest_request(hub):
    _registry, standin, digests = hub
    provider = make_provider(standin)
    list(provider.tags("acme/app"))  # the first scan logs in
    before = len(standin.requests)

    tags = list(provider.tags("acme/app"))

    routes = [r.route for r in standin.requests[before:]]
    assert routes == ["/v2/namespaces/acme/repositories/app/tags"]  # 1 request for 3 tags
    assert {t.tag: t.digest for t in tags} == digests  # digests without touching the registry


def test_retry_after_accepts_seconds_and_http_dates():
    from email.utils import format_datetime

    from integrations.providers._rest import retry_after_seconds

    later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=120)
    assert retry_after_seconds("7") == 7.0
    assert 100 < retry_after_seconds(format_datetime(later, usegmt=True)) <= 120
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_a_retry_after_beyond_a_minute_fails_at_once_as_transient():
    hub = "https://hub.docker.com/v2/auth/token"
    session = FakeSession({hub: [response(429, {}, {"Retry-After": "3600"})]})

    with pytest.raises(ProviderError) as caught:
        unit_provider(session).check()

    assert not caught.value.permanent and "3600 s" in caught.value.message
    assert len(session.calls) == 1
