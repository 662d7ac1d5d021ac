"""Image references are normalised the way docker/containerd do (distribution/reference)."""

from __future__ import annotations

import pytest

from scans.k8s import parse_image_id, parse_image_reference

D1 = "sha256:" + "a" * 64
D2 = "sha256:5be1ecc7935f1dd85635d4feedaf660594030253cc97c9e9ca3819ffeac36b65"


@pytest.mark.parametrize(
    ("given", "expected", "host"),
    [
        ("nginx", "docker.io/library/nginx:latest", "docker.io"),
        ("nginx:1.25", "docker.io/library/nginx:1.25", "docker.io"),
        ("library/nginx", "docker.io/library/nginx:latest", "docker.io"),
        ("docker.io/nginx", "docker.io/library/nginx:latest", "docker.io"),
        ("index.docker.io/nginx:1", "docker.io/library/nginx:1", "docker.io"),
        ("user/app", "docker.io/user/app:latest", "docker.io"),
        ("user/team/app:v2", "docker.io/user/team/app:v2", "docker.io"),
        ("quay.io/prometheus/node-exporter", "quay.io/prometheus/node-exporter:latest", "quay.io"),
        ("localhost/app", "localhost/app:latest", "localhost"),
        ("localhost:5000/app:dev", "localhost:5000/app:dev", "localhost:5000"),
        ("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:latest", "127.0.0.1:5000"),
        (
            "registry.example.com:5000/tools/envoy:v1.29",
            "registry.example.com:5000/tools/envoy:v1.29",
            "registry.example.com:5000",
        ),
        ("[::1]:5000/tools/migrate:2024.1", "[::1]:5000/tools/migrate:2024.1", "[::1]:5000"),
        ("Registry.Example.com/app", "Registry.Example.com/app:latest", "registry.example.com"),
        ("Foo/bar", "Foo/bar:latest", "foo"),  # an upper-case first component is a host
        ("localhost:5000", "docker.io/library/localhost:5000", "docker.io"),  # 5000 is a tag
        (f"nginx@{D1}", f"docker.io/library/nginx@{D1}", "docker.io"),
        (f"nginx:1.25@{D2}", f"docker.io/library/nginx:1.25@{D2}", "docker.io"),
        (f"127.0.0.1:5000/app@{D1}", f"127.0.0.1:5000/app@{D1}", "127.0.0.1:5000"),
        (
            "my_org/app-name.x__y:TAG_1.0-rc",
            "docker.io/my_org/app-name.x__y:TAG_1.0-rc",
            "docker.io",
        ),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1.4.2",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1.4.2",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        ),
    ],
)
def test_it_normalises_references(given, expected, host):
    ref = parse_image_reference(given)
    assert str(ref) == expected
    assert ref.host == host
    assert str(parse_image_reference(str(ref))) == expected  # normalising is idempotent


def test_it_splits_reference_parts():
    ref = parse_image_reference(f"registry.example.com:5000/tools/envoy:v1.29@{D2}")
    assert (ref.domain, ref.repository, ref.tag, ref.digest) == (
        "registry.example.com:5000",
        "tools/envoy",
        "v1.29",
        D2,
    )
    assert ref.name == "registry.example.com:5000/tools/envoy"


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Nginx", "lower case"),
        ("docker.io/Library/nginx", "lower case"),
        ("registry.example.com/App:1", "lower case"),
        ("a" * 64, "image id"),
        ("nginx:", "invalid"),
        ("nginx:bad tag", "invalid"),
        (" nginx", "whitespace"),
        ("nginx@sha256:abc123", "invalid"),  # too short for any digest
        ("nginx@sha256:" + "A" * 64, "lower-case hex"),
        ("nginx@md5:" + "a" * 32, "unsupported digest"),
        ("registry.example.com/-app", "invalid"),
        ("registry.example.com//app", "invalid"),
        ("registry.example.com:port/app", "invalid"),
        ("nginx:" + "t" * 129, "invalid"),
        ("registry.example.com/" + "a" * 250, "longer than 255"),
    ],
)
def test_it_rejects_malformed_references(bad, problem):
    with pytest.raises(ValueError, match=problem):
        parse_image_reference(bad)


@pytest.mark.parametrize(
    ("image_id", "expected"),
    [
        (f"docker-pullable://nginx@{D2}", (D2, "")),
        (f"docker.io/library/nginx@{D2}", (D2, "")),
        (f"registry.example.com:5000/tools/envoy@{D1}", (D1, "")),
        (D1, ("", D1)),
        (f"docker://{D1}", ("", D1)),
        ("", ("", "")),
        ("docker-pullable://nginx:1.25", ("", "")),  # no digest: nothing pullable by digest
        ("garbage ###", ("", "")),
    ],
)
def test_it_reads_image_ids(image_id, expected):
    assert parse_image_id(image_id) == expected
