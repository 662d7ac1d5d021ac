"""The generic OCI provider against the real registry (and the fault proxy for a refused catalog)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.crypto import Secret
from integrations.providers import get_provider
from integrations.providers.base import ProviderConfig, ProviderError
from integrations.providers.distribution import DistributionClient
from integrations.providers.oci import OciProvider, normalize_url, parse_created
from tests.support.oci_images import make_layer
from tests.support.registry import free_port

LAYER = make_layer({"etc/os-release": b"ID=alpine\n"})
LAYER2 = make_layer({"etc/hostname": b"box\n"})
T1 = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
T2 = datetime(2025, 6, 2, 8, 0, 5, 123456, tzinfo=UTC)


def provider_for(reg, **overrides) -> OciProvider:
    values = {"url": reg.url, "username": reg.username, "secret": Secret(reg.password)}
    if reg.ca_file:
        values["ca_bundle"] = reg.ca_file
    values.update(overrides)
    return get_provider("oci", ProviderConfig(**values))


# ---- pure parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("registry.example.com:5000", "https://registry.example.com:5000"),
        ("https://registry.example.com/", "https://registry.example.com"),
        ("http://10.0.0.5:5000", "http://10.0.0.5:5000"),
        (" ghcr.io ", "https://ghcr.io"),
    ],
)
def test_urls_are_normalized(url, expected):
    assert normalize_url(url) == expected


def test_a_non_http_url_is_refused():
    with pytest.raises(ProviderError, match="not an http"):
        normalize_url("ftp://example.com")


def test_pull_auth_uses_the_registry_endpoint_ca_bundle_and_insecure_switch():
    config = ProviderConfig(
        url="registry.example.com", registry_endpoint="http://127.0.0.1:5000",
        username="u", secret=Secret("p-secret"), ca_bundle="/tmp/ca.pem",
    )  # fmt: skip
    auth = OciProvider(config).pull_auth()
    assert (auth.base_url, auth.username, auth.verify) == (
        "http://127.0.0.1:5000",
        "u",
        "/tmp/ca.pem",
    )
    assert auth.password.reveal() == "p-secret"
    insecure = OciProvider(ProviderConfig(url="r.example.com", insecure=True)).pull_auth()
    assert (insecure.base_url, insecure.verify) == ("https://r.example.com", False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01T12:30:00Z", T1),
        ("2025-06-02T08:00:05.123456789Z", T2),
        ("2024-03-01T14:30:00+02:00", T1),
        ("1970-01-01T00:00:00Z", None),  # reproducible builds: no real date
        ("yesterday", None),
        (None, None),
    ],
)
def test_created_times_are_parsed(value, expected):
    assert parse_created(value) == expected


def test_the_provider_declares_its_form():
    assert OciProvider.kind == "oci" and OciProvider.label == "Generic OCI registry"
    assert OciProvider.secret_fields() == ("secret",)
    assert [f.name for f in OciProvider.credential_fields][0] == "url"


# ---- against the real registry --------------------------------------------------------------


@pytest.mark.slow
def test_it_lists_every_repository_through_catalog_pages(make_registry):
    reg = make_registry()
    names = sorted(f"apps/svc{i}" for i in range(7))
    for name in names:
        reg.push_blob(name, name.encode())
    provider = provider_for(reg)
    provider.page_size = 3
    provider.check()
    assert sorted(provider.repositories()) == names
    assert provider.client.stats["catalog"] >= 3


@pytest.mark.slow
def test_configured_repositories_skip_the_catalog(registry, repo_name):
    registry.push_image(repo_name, "v1", [LAYER])
    provider = provider_for(registry, repositories=(repo_name, repo_name + "/"))
    provider.check()
    assert list(provider.repositories()) == [repo_name]
    assert provider.client.stats["catalog"] == 0


@pytest.mark.slow
def test_a_refused_catalog_asks_for_the_repository_list(fault_proxy):
    fault_proxy.fail("GET", "/v2/_catalog", 403, times=10)
    provider = provider_for(fault_proxy.upstream, url=fault_proxy.url)
    with pytest.raises(ProviderError) as exc:
        provider.check()
    assert "403: the credentials lack permission to list the catalog" in str(exc.value)
    assert "enter the repositories to scan" in str(exc.value)
    assert exc.value.permanent


@pytest.mark.slow
def test_a_tls_failure_on_the_catalog_gets_no_repository_list_advice(tls_registry):
    # Was: "TLS certificate verification failed ... This registry does not let these
    # credentials list its repositories: enter the repositories ...": the wrong fix.
    provider = get_provider(
        "oci",
        ProviderConfig(
            url=tls_registry.url,
            username=tls_registry.username,
            secret=Secret(tls_registry.password),
        ),
    )
    with pytest.raises(ProviderError, match="TLS certificate verification failed") as exc:
        list(provider.repositories())  # a scan lists without a ping first
    assert "enter the repositories" not in str(exc.value)


@pytest.mark.slow
def test_check_names_bad_credentials(registry):
    provider = provider_for(registry, secret=Secret("wrong-wrong"))
    with pytest.raises(ProviderError, match="authentication failed for 127.0.0.1"):
        provider.check()


@pytest.mark.slow
def test_check_names_an_unreachable_registry():
    provider = provider_for_url(f"http://127.0.0.1:{free_port()}")
    provider.client = DistributionClient(provider.pull_auth(), sleep=lambda s: None, retries=1)
    with pytest.raises(ProviderError, match="cannot connect to 127.0.0.1") as exc:
        provider.check()
    assert not exc.value.permanent


def provider_for_url(url: str) -> OciProvider:
    return OciProvider(ProviderConfig(url=url))


@pytest.mark.slow
def test_tags_get_push_dates_from_the_image(registry, repo_name):
    with_config = registry.push_image(repo_name, "config", [LAYER], created=T1)
    with_annotation = registry.push_image(
        repo_name,
        "annotated",
        [LAYER2],
        annotations={"org.opencontainers.image.created": "2025-06-02T08:00:05.123456Z"},
    )
    without = registry.push_image(repo_name, "none", [LAYER, LAYER2])
    provider = provider_for(registry)
    tags = {t.tag: t for t in provider.tags(repo_name)}
    assert (tags["config"].digest, tags["config"].pushed_at, tags["config"].pushed_at_source) == (
        with_config,
        T1,
        "config",
    )
    assert (tags["annotated"].digest, tags["annotated"].pushed_at) == (with_annotation, T2)
    assert tags["annotated"].pushed_at_source == "config"
    assert (tags["none"].digest, tags["none"].pushed_at, tags["none"].pushed_at_source) == (
        without,
        None,
        None,
    )


@pytest.mark.slow
def test_an_index_gets_the_push_date_of_its_first_platform(registry, repo_name):
    digest = registry.push_index(
        repo_name, "multi",
        [{"platform": "linux/amd64", "layers": [LAYER], "created": T1},
         {"platform": "linux/arm64", "layers": [LAYER2], "created": T2}],
        attestation=True,
    )  # fmt: skip
    (tag,) = provider_for(registry).tags(repo_name)
    assert (tag.tag, tag.digest, tag.pushed_at, tag.pushed_at_source) == (
        "multi",
        digest,
        T1,
        "config",
    )


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "token_requests"), [("registry", 0), ("token_registry", 1)])
def test_a_rescan_with_nothing_changed_sends_one_head_per_tag(
    request, repo_name, kind, token_requests
):
    reg = request.getfixturevalue(kind)
    tags = [f"v{i}" for i in range(6)]
    for i, tag in enumerate(tags):
        reg.push_image(repo_name, tag, [make_layer({"n": str(i).encode()})], created=T1)
    first = provider_for(reg)
    listed = list(first.tags(repo_name))
    assert first.client.stats["manifest"] == 6 and first.client.stats["blob"] == 6
    known = {t.digest: (t.pushed_at, t.pushed_at_source) for t in listed}

    again = provider_for(reg)
    relisted = list(again.tags(repo_name, known=known))
    assert relisted == listed
    stats = again.client.stats
    # Per tag: one HEAD, no manifest GET, no blob. Per repository: one tags/list page, plus
    # the one 401 that tells a new client how to authenticate (Basic, or the token service:
    # one token per repository, cached for the next requests).
    assert (stats["head"], stats["manifest"], stats["blob"]) == (6, 0, 0)
    assert (stats["tags"], stats["auth"]) == (2, token_requests)
    assert sum(stats.values()) == 6 + 2 + token_requests
    assert again.client.bytes_downloaded == 0


@pytest.mark.slow
def test_a_changed_digest_is_read_again(registry, repo_name):
    registry.push_image(repo_name, "v1", [LAYER], created=T1)
    first = provider_for(registry)
    known = {t.digest: (t.pushed_at, t.pushed_at_source) for t in first.tags(repo_name)}
    new_digest = registry.push_image(repo_name, "v1", [LAYER2], created=T2)
    again = provider_for(registry)
    (tag,) = again.tags(repo_name, known=known)
    assert (tag.digest, tag.pushed_at) == (new_digest, T2)
    assert again.client.stats["manifest"] == 1


@pytest.mark.slow
def test_it_works_over_tls_with_the_ca_bundle(tls_registry, repo_name):
    digest = tls_registry.push_image(repo_name, "v1", [LAYER], created=T1)
    provider = provider_for(tls_registry, repositories=(repo_name,))
    provider.check()
    assert [(t.tag, t.digest, t.pushed_at) for t in provider.tags(repo_name)] == [
        ("v1", digest, T1)
    ]


@pytest.mark.slow
def test_it_works_with_token_auth_and_pulls_layers(token_registry, repo_name):
    digest = token_registry.push_image(repo_name, "v1", [LAYER], created=T1)
    provider = provider_for(token_registry, repositories=(repo_name,))
    provider.check()
    client = provider.distribution()
    (image,) = client.resolve(repo_name, "v1").images
    with client.open_blob(repo_name, image.layers[0].digest) as blob:
        assert blob.read() == token_registry.images[digest].blobs[image.layers[0].digest]
