"""Image references as scanimage (and Kubernetes discovery) read them: Docker's defaults."""

from __future__ import annotations

import pytest

from scans.references import parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "text, expected",
    [
        ("nginx", ("docker.io", "library/nginx", "latest", "")),
        ("nginx:1.25", ("docker.io", "library/nginx", "1.25", "")),
        ("bitnami/redis", ("docker.io", "bitnami/redis", "latest", "")),
        ("docker.io/nginx", ("docker.io", "library/nginx", "latest", "")),
        ("index.docker.io/library/nginx:1", ("docker.io", "library/nginx", "1", "")),
        ("ghcr.io/org/team/app:v1.2.3", ("ghcr.io", "org/team/app", "v1.2.3", "")),
        ("127.0.0.1:5000/app", ("127.0.0.1:5000", "app", "latest", "")),
        ("localhost/app:dev", ("localhost", "app", "dev", "")),
        (f"quay.io/org/app@{DIGEST}", ("quay.io", "org/app", "", DIGEST)),
        (f"quay.io/org/app:1@{DIGEST}", ("quay.io", "org/app", "1", DIGEST)),
        ("Registry.Example.com:443/app", ("registry.example.com", "app", "latest", "")),
    ],
)
def test_it_parses_references(text, expected):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == expected


def test_docker_hub_is_pulled_from_its_registry_host():
    ref = parse_reference("nginx")
    assert ref.endpoint == "registry-1.docker.io"
    assert ref.name == "docker.io/library/nginx:latest"
    assert parse_reference(f"ghcr.io/a/b@{DIGEST}").ref == DIGEST


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "not an image reference"),
        ("https://ghcr.io/a/b", "not an image reference"),
        ("Upper/Case", "not a valid repository name"),
        ("app:bad/tag:x", "not a valid"),
        ("app@sha256:xyz", "not a digest"),
        ("ghcr.io/", "names no repository"),
    ],
)
def test_it_refuses_what_is_not_a_reference(text, message):
    with pytest.raises(ValueError, match=message):
        parse_reference(text)
