"""JFrog Artifactory provider: REST listing against a stand-in, pulls through the Docker V2 API
("repository path" method) from the real registry behind it, and unit tests with the session
swapped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from integrations.crypto import Secret
from integrations.providers.artifactory import ArtifactoryProvider, parse_time
from integrations.providers.base import ProviderConfig, ProviderError
from tests.support.oci_images import make_layer
from tests.support.standins import FakeSession, assert_pulls, start_registry
from tests.support.standins import json_response as response

TOKEN = "cmVmdGtuOjAxOjE3-identity-token"
ACCESS_TOKEN = "eyJ2ZXIiOiIyIiwidHlwIjoiSldUIn0.access-token"
KEYS = {"docker-local": "docker", "docker-dev": "docker", "libs-release": "maven"}
PUSHED = {
    "1.0": datetime(2024, 1, 1, 8, 0, tzinfo=UTC),
    "1.1": datetime(2024, 2, 1, 8, 0, tzinfo=UTC),
    "multi": datetime(2024, 3, 1, 8, 0, tzinfo=UTC),
}


def make_provider(standin, secret: str = TOKEN, username: str = "ci", **overrides):
    values = {
        "url": standin.url + "/artifactory",
        "username": username,
        "secret": Secret(secret),
        "timeout": 5.0,
    }
    values.update(overrides)
    return ArtifactoryProvider(ProviderConfig(**values))


@pytest.fixture(scope="module")
def artifactory_registry(tmp_path_factory):
    """docker-local: app (1.0, 1.1, multi = a two-platform index), db, team/web; docker-dev: tool.
    Shared by the module's tests (they only read it)."""
    registry = start_registry(tmp_path_factory.mktemp("artifactory-registry"))
    digests = {}
    for tag in ("1.0", "1.1"):
        layer = make_layer({"etc/os-release": b"ID=debian\n", "app/version": tag.encode()})
        digests[tag] = registry.push_image("docker-local/app", tag, [layer])
    digests["multi"] = registry.push_index(
        "docker-local/app",
        "multi",
        [
            {"platform": "linux/amd64", "layers": [make_layer({"arch": b"amd64"})]},
            {"platform": "linux/arm64", "layers": [make_layer({"arch": b"arm64"})]},
        ],
    )
    for tag, when in PUSHED.items():
        registry.set_push_time("docker-local/app", tag, when)
    for repo in ("docker-local/db", "docker-local/team/web", "docker-dev/tool"):
        registry.push_image(repo, "1", [make_layer({"name": repo.encode()})])
    yield registry, digests
    registry.stop()


@pytest.fixture
def artifactory(artifactory_registry, artifactory_standin):
    """A fresh Artifactory stand-in (users, tokens, faults) in front of the registry."""
    registry, digests = artifactory_registry
    standin = artifactory_standin(registry, KEYS)
    standin.users["ci"] = TOKEN
    standin.access_tokens.add(ACCESS_TOKEN)
    return registry, standin, digests


@pytest.mark.slow
def test_it_lists_every_docker_repository_across_pages(artifactory):
    _registry, standin, _digests = artifactory
    provider = make_provider(standin)
    provider.page_size = 2

    names = list(provider.repositories())

    assert sorted(names) == [
        "docker-dev/tool",
        "docker-local/app",
        "docker-local/db",
        "docker-local/team/web",
    ]
    assert standin.paths("/api/repositories?packageType=docker")
    assert any("last=" in path for path in standin.paths("/docker-local/v2/_catalog"))


@pytest.mark.slow
def test_it_reads_tags_with_push_dates_and_digests_from_the_storage_api(artifactory):
    _registry, standin, digests = artifactory
    provider = make_provider(standin, repositories=("docker-local",))
    provider.page_size = 2

    tags = {t.tag: (t.digest, t.pushed_at) for t in provider.tags("docker-local/app")}

    assert tags == {tag: (digests[tag], PUSHED[tag]) for tag in PUSHED}
    assert standin.paths("/app/multi/list.manifest.json")  # a multi-platform image
    assert any("last=" in path for path in standin.paths("/app/tags/list"))


@pytest.mark.slow
def test_it_pulls_an_image_through_the_repository_path(artifactory):
    registry, standin, digests = artifactory
    provider = make_provider(standin, repositories=("docker-local",))

    assert assert_pulls(provider, "docker-local/app", "1.1", registry) == digests["1.1"]


@pytest.mark.slow
def test_an_access_token_without_username_lists_and_pulls(artifactory):
    registry, standin, digests = artifactory
    provider = make_provider(
        standin, secret=ACCESS_TOKEN, username="", repositories=("docker-dev",)
    )

    assert list(provider.repositories()) == ["docker-dev/tool"]
    assert assert_pulls(provider, "docker-local/app", "1.0", registry) == digests["1.0"]


@pytest.mark.slow
def test_a_wrong_token_is_a_clear_permanent_error(artifactory):
    _registry, standin, _digests = artifactory

    with pytest.raises(ProviderError) as caught:
        make_provider(standin, secret="wrong-token-value").check()

    assert caught.value.permanent
    assert "rejected the credentials" in caught.value.message
    assert "wrong-token-value" not in str(caught.value)


@pytest.mark.slow
def test_a_forbidden_repository_names_the_read_permission(artifactory):
    _registry, standin, _digests = artifactory
    standin.denied.add("docker-dev")

    with pytest.raises(ProviderError) as caught:
        list(make_provider(standin).repositories())

    assert caught.value.permanent
    assert "Read permission" in caught.value.message and "docker-dev" in caught.value.message
    assert TOKEN not in str(caught.value)


@pytest.mark.slow
def test_an_unknown_image_is_a_permanent_not_found(artifactory):
    _registry, standin, _digests = artifactory

    with pytest.raises(ProviderError) as caught:
        list(make_provider(standin).tags("docker-local/nope"))

    assert caught.value.permanent
    assert "docker-local/nope" in caught.value.message


@pytest.mark.slow
def test_it_waits_for_retry_after_then_succeeds(artifactory):
    _registry, standin, _digests = artifactory
    provider = make_provider(standin, repositories=("docker-dev",))
    waits = []
    provider.api.sleep = waits.append
    standin.fail("/v2/_catalog", 429, headers={"Retry-After": "3"})

    assert list(provider.repositories()) == ["docker-dev/tool"]
    assert waits == [3.0]


@pytest.mark.slow
def test_a_500_then_success_is_retried(artifactory):
    _registry, standin, _digests = artifactory
    provider = make_provider(standin, repositories=("docker-dev",))
    provider.api.sleep = lambda seconds: None
    standin.fail("/v2/_catalog", 500, times=2)

    assert list(provider.repositories()) == ["docker-dev/tool"]
    assert len(standin.paths("/v2/_catalog")) == 3


@pytest.mark.slow
def test_a_timeout_is_a_transient_error(artifactory):
    _registry, standin, _digests = artifactory
    provider = make_provider(standin, timeout=0.3, repositories=("docker-dev",))
    provider.api.max_attempts = 2
    provider.api.sleep = lambda seconds: None
    standin.fail("/v2/_catalog", 0, times=2, delay=1.0)

    with pytest.raises(ProviderError) as caught:
        list(provider.repositories())

    assert not caught.value.permanent
    assert "did not answer" in caught.value.message


# ---- unit tests: the requests session swapped ------------------------------------------------


def unit_provider(session: FakeSession, **overrides) -> ArtifactoryProvider:
    values = {"url": "https://acme.jfrog.io", "username": "ci", "secret": Secret(TOKEN)}
    provider = ArtifactoryProvider(ProviderConfig(**{**values, **overrides}))
    provider.api.session = session
    return provider


def test_it_follows_link_headers_and_sends_basic_credentials():
    base = "https://acme.jfrog.io/artifactory/api/docker/docker-local/v2/_catalog"
    link = {"Link": '</artifactory/api/docker/docker-local/v2/_catalog?n=100&last=b>; rel="next"'}
    session = FakeSession(
        {
            f"{base}?n=100&last=b": [response(200, {"repositories": ["c"]})],
            f"{base}?n=100": [response(200, {"repositories": ["a", "b"]}, link)],
        }
    )

    names = list(unit_provider(session, repositories=("docker-local",)).repositories())

    assert names == ["docker-local/a", "docker-local/b", "docker-local/c"]
    assert all(call[2]["auth"] == ("ci", TOKEN) for call in session.calls)


def test_an_access_token_goes_in_a_bearer_header():
    session = FakeSession(
        {
            "https://acme.jfrog.io/artifactory/api/repositories": [
                response(200, [{"key": "d", "packageType": "Docker"}])
            ]
        }
    )

    assert unit_provider(session, username="").repository_keys() == ["d"]
    assert session.calls[0][2]["headers"] == {"Authorization": f"Bearer {TOKEN}"}


def test_a_tag_without_manifest_file_has_no_date():
    storage = "https://acme.jfrog.io/artifactory/api/storage/k/app/v1/"
    session = FakeSession(
        {
            "https://acme.jfrog.io/artifactory/api/docker/k/v2/app/tags/list": [
                response(200, {"tags": ["v1"]})
            ],
            storage + "manifest.json": [response(404, {})],
            storage + "list.manifest.json": [response(404, {})],
        }
    )

    (info,) = unit_provider(session).tags("k/app")

    assert (info.tag, info.digest, info.pushed_at, info.pushed_at_source) == (
        "v1",
        None,
        None,
        None,
    )


def test_it_parses_artifactory_times():
    assert parse_time("2024-05-01T10:00:00.123+0200") == datetime(
        2024, 5, 1, 10, 0, 0, 123000, tzinfo=timezone(timedelta(hours=2))
    )
    assert parse_time("2024-05-01T10:00:00.000Z") == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_pull_auth_uses_the_artifactory_host():
    auth = unit_provider(FakeSession({}), url="https://acme.jfrog.io/artifactory/").pull_auth()

    assert auth.base_url == "https://acme.jfrog.io"
    assert (auth.username, auth.password.reveal(), auth.path_prefix) == ("ci", TOKEN, "")


def test_a_repository_name_needs_its_key():
    with pytest.raises(ProviderError, match="<repository key>/<image>"):
        list(unit_provider(FakeSession({})).tags("app"))


@pytest.mark.slow
def test_a_rescan_costs_one_storage_request_per_tag_and_no_manifest_request(artifactory):
    _registry, standin, digests = artifactory
    provider = make_provider(standin, repositories=("docker-local",))
    before = len(standin.requests)

    tags = list(provider.tags("docker-local/app"))

    routes = [r.route for r in standin.requests[before:]]
    assert routes == [
        "/artifactory/api/docker/docker-local/v2/app/tags/list",
        "/artifactory/api/storage/docker-local/app/1.0/manifest.json",
        "/artifactory/api/storage/docker-local/app/1.1/manifest.json",
        "/artifactory/api/storage/docker-local/app/multi/manifest.json",  # 404: an index
        "/artifactory/api/storage/docker-local/app/multi/list.manifest.json",
    ]
    assert {t.tag: t.digest for t in tags} == digests


def test_an_unreachable_host_is_a_transient_error_naming_the_cause():
    from tests.support.registry import free_port

    provider = ArtifactoryProvider(
        ProviderConfig(url=f"http://127.0.0.1:{free_port()}", username="ci", secret=Secret(TOKEN))
    )
    provider.api.max_attempts = 1

    with pytest.raises(ProviderError) as caught:
        provider.check()

    assert not caught.value.permanent
    assert "cannot connect to Artifactory: connection refused" in caught.value.message
