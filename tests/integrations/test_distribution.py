"""DistributionClient against the real CNCF registry on 127.0.0.1 (htpasswd, TLS, token auth)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from integrations.crypto import Secret
from integrations.providers.base import ProviderError
from integrations.providers.distribution import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    DistributionClient,
    UnsupportedMediaType,
)
from tests.support.oci_images import canonical_json, descriptor, make_layer, make_manifest

pytestmark = pytest.mark.slow

LAYER = make_layer({"etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n", "bin/": ("dir",)})
LAYER2 = make_layer(
    {"usr/lib/os-release": b"ID=debian\n", "etc/os-release": ("symlink", "../usr/lib/os-release")}
)


def test_it_pings_with_basic_auth(registry):
    client = registry.client()
    client.ping()
    assert client.stats["ping"] == 2  # the challenge, then the authenticated retry


def test_it_pages_through_the_catalog(make_registry):
    reg = make_registry()
    names = sorted(f"team/app{i}" for i in range(7))
    for name in names:
        reg.push_blob(name, name.encode())  # a blob upload is enough to create a repository
    client = reg.client()
    assert sorted(client.catalog(page_size=3)) == names
    # 7 names in pages of 3: three pages, plus the 401 that told the client to use Basic.
    assert client.stats["catalog"] == 4


def test_it_lists_tags(registry, repo_name):
    for tag in ("1.0", "1.1", "latest"):
        registry.push_image(repo_name, tag, [LAYER])
    assert sorted(registry.client().list_tags(repo_name)) == ["1.0", "1.1", "latest"]


@pytest.mark.parametrize(
    ("media", "expected_type"), [("oci", OCI_MANIFEST), ("docker", DOCKER_MANIFEST)]
)
def test_head_gives_the_pushed_digest(registry, repo_name, media, expected_type):
    digest = registry.push_image(repo_name, "v1", [LAYER, LAYER2], media=media)
    client = registry.client()
    head = client.head_manifest(repo_name, "v1")
    assert (head.digest, head.media_type) == (digest, expected_type)
    manifest = client.get_manifest(repo_name, "v1")
    assert (manifest.digest, manifest.media_type) == (digest, expected_type)
    assert manifest.raw == registry.images[digest].manifest


@pytest.mark.parametrize("media", ["oci", "docker"])
def test_it_resolves_a_single_image_with_its_platform(registry, repo_name, media):
    digest = registry.push_image(
        repo_name, "v1", [LAYER, LAYER2], media=media, platform="linux/arm/v7"
    )
    resolved = registry.client().resolve(repo_name, "v1")
    (image,) = resolved.images
    assert resolved.digest == image.digest == digest
    assert image.platform == "linux/arm/v7"
    assert [layer.digest for layer in image.layers] == registry.images[digest].layer_digests
    assert image.config.digest == registry.images[digest].config_digest
    assert resolved.skipped == ()


@pytest.mark.parametrize(("media", "index_type"), [("oci", OCI_INDEX), ("docker", DOCKER_LIST)])
def test_an_index_gives_one_image_per_platform_and_skips_attestations(
    registry, repo_name, media, index_type
):
    index_digest = registry.push_index(
        repo_name,
        "multi",
        [
            {"platform": "linux/amd64", "layers": [LAYER]},
            {"platform": "linux/arm64/v8", "layers": [LAYER, LAYER2]},
        ],
        media=media,
        attestation=True,
    )
    resolved = registry.client().resolve(repo_name, "multi")
    assert (resolved.digest, resolved.media_type) == (index_digest, index_type)
    assert [(i.platform, len(i.layers)) for i in resolved.images] == [
        ("linux/amd64", 1),
        ("linux/arm64/v8", 2),
    ]
    assert all(i.index_digest == index_digest for i in resolved.images)
    assert {i.digest for i in resolved.images} <= set(registry.images)
    ((what, reason),) = resolved.skipped
    assert what == "unknown/unknown" and "attestation" in reason


def test_it_picks_one_platform_from_an_index(registry, repo_name):
    registry.push_index(
        repo_name,
        "multi",
        [
            {"platform": "linux/amd64", "layers": [LAYER]},
            {"platform": "linux/arm64", "layers": [LAYER2]},
        ],
    )
    client = registry.client()
    resolved = client.resolve(repo_name, "multi", platform="linux/arm64")
    assert [i.platform for i in resolved.images] == ["linux/arm64"]
    assert resolved.skipped == (("linux/amd64", "not the requested platform linux/arm64"),)
    with pytest.raises(ProviderError, match="no image for platform linux/s390x"):
        client.resolve(repo_name, "multi", platform="linux/s390x")


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_it_streams_a_blob_and_verifies_its_digest(registry, repo_name, compression):
    digest = registry.push_image(repo_name, "v1", [LAYER2], compression=compression)
    client = registry.client()
    (image,) = client.resolve(repo_name, "v1").images
    layer = image.layers[0]
    with client.open_blob(repo_name, layer.digest) as blob:
        data = blob.read()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == layer.digest
    assert client.bytes_downloaded == len(data) + image.config.size
    assert registry.images[digest].blobs[layer.digest] == data


def test_a_blob_streams_into_tarfile(registry, repo_name):
    registry.push_image(repo_name, "v1", [LAYER2])
    client = registry.client()
    (image,) = client.resolve(repo_name, "v1").images
    with client.open_blob(repo_name, image.layers[0].digest) as blob:
        with tarfile.open(fileobj=blob, mode="r|gz") as tar:
            names = [member.name for member in tar]
    assert names == ["usr/lib/os-release", "etc/os-release"]


def test_get_config_is_verified_and_parsed(registry, repo_name):
    digest = registry.push_image(repo_name, "v1", [LAYER], platform="linux/ppc64le")
    client = registry.client()
    config = client.get_config(repo_name, registry.images[digest].config_digest)
    assert (config["os"], config["architecture"]) == ("linux", "ppc64le")


def test_an_artifact_is_not_an_image(registry, repo_name):
    helm = b'{"name": "chart"}'
    config_type = "application/vnd.cncf.helm.config.v1+json"
    doc = make_manifest(descriptor(config_type, helm), [descriptor("application/x-tar", LAYER)])
    registry.push_blob(repo_name, helm)
    registry.push_blob(repo_name, LAYER)
    registry.push_manifest_raw(repo_name, "chart", canonical_json(doc), OCI_MANIFEST)
    with pytest.raises(UnsupportedMediaType, match=re.escape(config_type)) as exc:
        registry.client().resolve(repo_name, "chart")
    assert exc.value.permanent


def test_a_big_chunked_blob_streams_in_pieces(registry, repo_name, tmp_path):
    path = tmp_path / "big.bin"
    payload = io.BytesIO()
    with gzip.GzipFile(fileobj=payload, mode="wb", mtime=0) as gz:
        for i in range(2000):
            gz.write(hashlib.sha512(str(i).encode()).digest() * 64)
    path.write_bytes(payload.getvalue())
    digest = registry.push_blob_file(repo_name, path, chunk_size=64 * 1024)
    client = registry.client()
    total = 0
    with client.open_blob(repo_name, digest) as blob:
        while chunk := blob.read(10_000):
            total += len(chunk)
    assert total == path.stat().st_size == client.bytes_downloaded


def test_tls_registry_works_with_its_ca_bundle(tls_registry, repo_name):
    digest = tls_registry.push_image(repo_name, "v1", [LAYER])
    client = tls_registry.client()
    assert client.head_manifest(repo_name, "v1").digest == digest


def test_tls_registry_fails_clearly_without_its_ca_bundle(tls_registry):
    client = DistributionClient(tls_registry.pull_auth(verify=True), retries=0)
    with pytest.raises(ProviderError, match="TLS certificate verification failed") as exc:
        client.ping()
    assert exc.value.permanent
    assert tls_registry.password not in str(exc.value)


def test_https_to_a_plain_http_registry_says_it_does_not_speak_tls(registry):
    # Was reported as "TLS certificate verification failed ... give the CA bundle": wrong advice.
    https_url = registry.url.replace("http://", "https://")
    client = DistributionClient(registry.pull_auth(base_url=https_url, verify=True), retries=0)
    with pytest.raises(ProviderError, match="does not speak TLS") as exc:
        client.ping()
    assert exc.value.permanent and "http://" in str(exc.value)
    assert registry.password not in str(exc.value)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_verification_can_be_switched_off(tls_registry):
    DistributionClient(tls_registry.pull_auth(verify=False)).ping()


def test_bearer_tokens_are_cached_per_scope(token_registry, repo_name):
    other = repo_name + "-b"
    for name in (repo_name, other):
        token_registry.push_image(name, "v1", [LAYER])
    client = token_registry.client()
    for _ in range(3):
        client.head_manifest(repo_name, "v1")
        client.get_manifest(repo_name, "v1")
    assert client.stats["auth"] == 1
    client.head_manifest(other, "v1")
    assert client.stats["auth"] == 2  # a new scope needs its own token
    # One 401 challenge in all: after it the client asks the token service up front.
    assert client.stats["head"] + client.stats["manifest"] == 8
    scopes = [r["scopes"] for r in token_registry.token_server.requests[-2:]]
    assert scopes == [[f"repository:{repo_name}:pull"], [f"repository:{other}:pull"]]


def test_a_401_mid_scan_re_authenticates_once(token_registry, repo_name):
    token_registry.push_image(repo_name, "v1", [LAYER])
    client = token_registry.client()
    client.head_manifest(repo_name, "v1")
    # Make the cached token useless, as if it had been revoked on the server.
    (scope,) = [s for s in client._tokens if repo_name in s]
    client._tokens[scope].value = "revoked"
    assert client.head_manifest(repo_name, "v1").media_type == OCI_MANIFEST
    assert client.stats["auth"] == 2


def test_token_auth_with_a_bad_password_fails_clearly(token_registry, repo_name):
    client = DistributionClient(token_registry.pull_auth(password=Secret("wrong-password")))
    with pytest.raises(ProviderError) as exc:
        list(client.list_tags(repo_name))
    assert str(exc.value) == (
        f"authentication failed for {token_registry.host}: check the username and password/token"
    )
    assert exc.value.permanent


def test_token_without_pull_permission_names_the_repository(token_registry, repo_name):
    token_registry.push_image(repo_name, "v1", [LAYER])
    token_registry.token_server.deny.add(repo_name)
    client = token_registry.client()
    with pytest.raises(
        ProviderError,
        match=f"lack pull permission on repository {repo_name} \\(or it does not exist\\)",
    ):
        client.head_manifest(repo_name, "v1")


def test_concurrent_requests_are_capped_per_registry(fault_proxy, repo_name):
    fault_proxy.upstream.push_image(repo_name, "v1", [LAYER])
    lock, in_flight, peak = threading.Lock(), [0], [0]

    def slow_heads(req):
        if req.method != "HEAD":
            return None
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        return None  # then forward to the registry

    fault_proxy.add(slow_heads)
    client = fault_proxy.client(max_concurrency=2)
    client.ping()
    with ThreadPoolExecutor(max_workers=8) as pool:
        digests = set(pool.map(lambda _: client.head_manifest(repo_name, "v1").digest, range(16)))
    assert len(digests) == 1
    assert 1 <= peak[0] <= 2  # never more than the cap (8 threads were asking)


def test_a_blob_read_and_a_nested_request_share_one_slot(registry, repo_name):
    digest = registry.push_image(repo_name, "v1", [LAYER])
    built = registry.images[digest]
    client = registry.client(max_concurrency=1)
    with client.open_blob(repo_name, built.layer_digests[0]) as blob:
        config = client.get_config(repo_name, built.config_digest)  # would deadlock otherwise
        assert blob.read() == built.blobs[built.layer_digests[0]]
    assert config["architecture"] == "amd64"


def test_threads_needing_one_scope_share_one_token_request(token_registry, repo_name):
    token_registry.push_image(repo_name, "v1", [LAYER])
    client = token_registry.client(max_concurrency=8)
    client.ping()
    before = client.stats["auth"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: client.head_manifest(repo_name, "v1"), range(16)))
    assert client.stats["auth"] - before == 1


@pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo is missing (Debian package skopeo)")
@pytest.mark.parametrize(
    ("source", "fmt", "media_type", "layer_type"),
    [
        ("oci", "v2s2", DOCKER_MANIFEST, "application/vnd.docker.image.rootfs.diff.tar.gzip"),
        ("docker", "oci", OCI_MANIFEST, "application/vnd.oci.image.layer.v1.tar+gzip"),
    ],
)
def test_it_reads_images_converted_by_skopeo(
    registry, repo_name, source, fmt, media_type, layer_type
):
    """A cross-check with a real tool: skopeo writes the manifest (converting its format), so
    our builders and our client can't share a mistake here."""
    registry.push_image(repo_name, "src", [LAYER, LAYER2], media=source)
    creds = f"{registry.username}:{registry.password}"
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
         "--src-creds", creds, "--dest-creds", creds, "--format", fmt,
         f"docker://{registry.host}/{repo_name}:src", f"docker://{registry.host}/{repo_name}:copy"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    inspected = json.loads(
        subprocess.run(
            [
                "skopeo",
                "inspect",
                "--tls-verify=false",
                "--creds",
                creds,
                f"docker://{registry.host}/{repo_name}:copy",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        ).stdout
    )
    client = registry.client()
    resolved = client.resolve(repo_name, "copy")
    (image,) = resolved.images
    assert (resolved.digest, image.media_type) == (inspected["Digest"], media_type)
    assert [layer.digest for layer in image.layers] == inspected["Layers"]
    contents = []
    for layer in image.layers:
        with client.open_blob(repo_name, layer.digest) as blob:
            contents.append(_decompress(blob, layer.media_type))
    assert contents == [LAYER, LAYER2]
    assert [layer.media_type for layer in image.layers] == [layer_type, layer_type]


def _decompress(blob, media_type: str) -> bytes:
    return gzip.GzipFile(fileobj=blob).read() if media_type.endswith("gzip") else blob.read()
