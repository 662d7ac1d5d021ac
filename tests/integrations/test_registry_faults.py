"""Faults, each its own test: the client retries or fails with a message a person can act on.

Most go through ``fault_proxy`` (a stand-in on 127.0.0.1 that forwards to the real registry
unless a rule answers first); credential and not-found faults use the real registry directly.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.crypto import Secret
from integrations.providers.base import ProviderError, PullAuth
from integrations.providers.distribution import (
    DigestMismatch,
    DistributionClient,
    UnsupportedMediaType,
)
from tests.support.oci_images import canonical_json, make_layer
from tests.support.registry import write_answer

pytestmark = pytest.mark.slow

LAYER = make_layer({f"data/file{i}": hashlib.sha256(bytes([i])).digest() * 400 for i in range(40)})


class Sleeps(list):
    """The ``sleep`` seam: records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def image(registry, repo_name):
    digest = registry.push_image(repo_name, "v1", [LAYER], compression="none")
    return repo_name, registry.images[digest]


def test_a_bad_secret_fails_with_a_clear_message(registry, repo_name):
    client = DistributionClient(registry.pull_auth(password=Secret("not-the-password")))
    with pytest.raises(ProviderError) as exc:
        client.head_manifest(repo_name, "v1")
    assert str(exc.value) == (
        f"authentication failed for {registry.host}: check the username and password/token"
    )
    assert exc.value.permanent and "not-the-password" not in str(exc.value)


def test_missing_credentials_say_so(registry):
    client = DistributionClient(PullAuth(base_url=registry.url))
    with pytest.raises(ProviderError, match="requires credentials"):
        client.ping()


def test_a_registry_without_head_gets_a_get(fault_proxy, image):
    repo, built = image
    fault_proxy.fail("HEAD", "/manifests/v1", 405)
    client = fault_proxy.client()
    client.ping()  # authenticate first, so the count below is the GET alone
    assert client.head_manifest(repo, "v1").digest == built.digest
    assert client.stats["manifest"] == 1


def test_403_names_the_missing_permission(fault_proxy, image, sleeps):
    repo, _ = image
    body = canonical_json({"errors": [{"code": "DENIED", "message": "requested access denied"}]})
    fault_proxy.fail("HEAD", "/manifests/", 403, body=body)
    with pytest.raises(ProviderError) as exc:
        fault_proxy.client(sleep=sleeps).head_manifest(repo, "v1")
    assert str(exc.value) == f"403: the credentials lack pull permission on repository {repo}"
    assert exc.value.permanent and sleeps == []


def test_an_unknown_repository_is_named(registry):
    client = registry.client()
    with pytest.raises(ProviderError) as exc:
        list(client.list_tags("no/such-repo"))
    assert str(exc.value) == f"repository no/such-repo not found on {registry.host}"
    assert exc.value.permanent


def test_an_unknown_tag_is_named(registry, image):
    repo, _ = image
    with pytest.raises(ProviderError, match=f"manifest {repo}:nope not found") as exc:
        registry.client().get_manifest(repo, "nope")
    assert exc.value.permanent


def test_429_waits_for_retry_after_then_succeeds(fault_proxy, image, sleeps):
    repo, built = image
    fault_proxy.fail("HEAD", "/manifests/v1", 429, headers={"Retry-After": "2"})
    client = fault_proxy.client(sleep=sleeps)
    assert client.head_manifest(repo, "v1").digest == built.digest
    assert sleeps == [2.0]


def test_a_real_short_retry_after_is_really_waited(fault_proxy, image):
    repo, built = image
    fault_proxy.fail("HEAD", "/manifests/v1", 429, headers={"Retry-After": "0"})
    assert fault_proxy.client().head_manifest(repo, "v1").digest == built.digest
    heads = [r for r in fault_proxy.seen if r.method == "HEAD"]
    assert len(heads) == 3  # the 401 challenge, the 429, the success


def test_a_retry_after_beyond_a_minute_is_reported_not_slept(fault_proxy, image, sleeps):
    repo, _ = image
    fault_proxy.fail("HEAD", "/manifests/v1", 429, headers={"Retry-After": "3600"})
    with pytest.raises(ProviderError) as exc:
        fault_proxy.client(sleep=sleeps).head_manifest(repo, "v1")
    assert (
        str(exc.value) == f"{fault_proxy.host} is rate limiting requests (429); retry after 3600 s"
    )
    assert not exc.value.permanent and sleeps == []


def test_500_then_success_backs_off(fault_proxy, image, sleeps):
    repo, built = image
    fault_proxy.fail("GET", "/manifests/v1", 500, times=2)
    client = fault_proxy.client(sleep=sleeps, backoff=0.5)
    assert client.get_manifest(repo, "v1").digest == built.digest
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0  # exponential, with jitter


def test_persistent_503_ends_in_a_transient_error(fault_proxy, image, sleeps):
    repo, _ = image
    fault_proxy.fail("GET", "/manifests/v1", 503, times=100)
    with pytest.raises(ProviderError, match="answered 503") as exc:
        fault_proxy.client(sleep=sleeps, retries=3).get_manifest(repo, "v1")
    assert not exc.value.permanent and len(sleeps) == 3


def test_a_connection_reset_mid_blob_resumes_with_range(fault_proxy, image, sleeps):
    repo, built = image
    layer_digest = built.layer_digests[0]
    blob = built.blobs[layer_digest]
    done = []

    def reset_half_way(req):
        if req.method == "GET" and layer_digest in req.path and not done:
            done.append(True)

            def write(handler):
                handler.send_response(200)
                handler.send_header("Content-Length", str(len(blob)))
                handler.end_headers()
                handler.wfile.write(blob[: len(blob) // 2])
                handler.wfile.flush()
                handler.close_connection = True

            return write
        return None

    fault_proxy.add(reset_half_way)
    client = fault_proxy.client(sleep=sleeps)
    with client.open_blob(repo, layer_digest) as stream:
        data = stream.read()
    assert data == blob
    ranges = [r.headers.get("Range") for r in fault_proxy.seen if layer_digest in r.path]
    assert ranges[-1] == f"bytes={len(blob) // 2}-"
    assert len(sleeps) == 1


def test_a_manifest_cut_off_mid_body_is_fetched_again(fault_proxy, image, sleeps):
    repo, built = image
    done = []

    def cut_once(req):
        if req.method == "GET" and "/manifests/v1" in req.path and not done:
            done.append(True)
            return lambda handler: write_answer(
                handler,
                200,
                {"Content-Type": built.media_type, "Content-Length": str(len(built.manifest))},
                built.manifest[:20],
            )
        return None

    fault_proxy.add(cut_once)
    manifest = fault_proxy.client(sleep=sleeps).get_manifest(repo, "v1")
    assert manifest.raw == built.manifest and len(sleeps) == 1


def test_a_reset_that_keeps_happening_is_a_clean_error(fault_proxy, image, sleeps):
    repo, built = image
    layer_digest = built.layer_digests[0]

    def always_reset(req):
        if req.method == "GET" and layer_digest in req.path:
            return lambda handler: write_answer(
                handler, 200, {"Content-Length": str(len(LAYER))}, LAYER[:100]
            )
        return None

    fault_proxy.add(always_reset)
    with pytest.raises(ProviderError, match="cannot connect to") as exc:
        with fault_proxy.client(sleep=sleeps, retries=2).open_blob(repo, layer_digest) as s:
            s.read()
    assert not exc.value.permanent and len(sleeps) == 2


def test_a_timeout_is_retried_then_reported(fault_proxy, image, sleeps):
    repo, _ = image
    fault_proxy.add(lambda req: (lambda handler: time.sleep(1.0)) if req.method == "HEAD" else None)
    client = fault_proxy.client(sleep=sleeps, timeout=0.2, retries=1)
    with pytest.raises(ProviderError) as exc:
        client.head_manifest(repo, "v1")
    assert str(exc.value) == f"timed out after 0.2 s waiting for {fault_proxy.host}"
    assert not exc.value.permanent and len(sleeps) == 1


def test_a_corrupted_blob_is_a_digest_mismatch(fault_proxy, image):
    repo, built = image
    layer_digest = built.layer_digests[0]
    corrupted = bytearray(built.blobs[layer_digest])
    corrupted[1000] ^= 0xFF
    fault_proxy.fail("GET", f"/blobs/{layer_digest}", 200, body=bytes(corrupted))
    client = fault_proxy.client()
    with pytest.raises(DigestMismatch, match=f"blob {layer_digest} in {repo} does not match"):
        with client.open_blob(repo, layer_digest) as stream:
            stream.read(10)  # stopping early still verifies: the rest is drained on exit


def test_a_manifest_that_does_not_match_its_digest_is_refused(fault_proxy, image):
    repo, built = image
    other = canonical_json({"schemaVersion": 2, "mediaType": built.media_type, "layers": []})
    fault_proxy.fail(
        "GET", f"/manifests/{built.digest}", 200, headers={"Content-Type": built.media_type},
        body=other,
    )  # fmt: skip
    with pytest.raises(DigestMismatch, match="does not match its digest") as exc:
        fault_proxy.client().get_manifest(repo, built.digest)
    assert exc.value.permanent


def test_a_malformed_manifest_is_a_clear_error(fault_proxy, image):
    repo, built = image
    fault_proxy.fail(
        "GET", "/manifests/v1", 200, headers={"Content-Type": built.media_type},
        body=b'{"schemaVersion": 2, "layers": [',
    )  # fmt: skip
    with pytest.raises(ProviderError, match=f"manifest {repo}:v1 is malformed") as exc:
        fault_proxy.client().resolve(repo, "v1")
    assert exc.value.permanent


def test_a_manifest_with_bad_descriptors_is_a_clear_error(fault_proxy, image):
    repo, built = image
    body = canonical_json(
        {"schemaVersion": 2, "mediaType": built.media_type,
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "x", "size": 1},
         "layers": []}
    )  # fmt: skip
    fault_proxy.fail(
        "GET", "/manifests/v1", 200, headers={"Content-Type": built.media_type}, body=body
    )
    with pytest.raises(ProviderError, match="malformed"):
        fault_proxy.client().resolve(repo, "v1")


def test_an_unknown_media_type_is_named(fault_proxy, image):
    repo, _ = image
    media_type = "application/vnd.example.thing.v1+json"
    fault_proxy.fail(
        "GET", "/manifests/v1", 200, headers={"Content-Type": media_type},
        body=canonical_json({"schemaVersion": 2, "mediaType": media_type}),
    )  # fmt: skip
    with pytest.raises(UnsupportedMediaType) as exc:
        fault_proxy.client().resolve(repo, "v1")
    assert str(exc.value) == f"{repo}:v1 has unsupported manifest media type {media_type}"


def test_schema1_is_named(fault_proxy, image):
    repo, _ = image
    media_type = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    body = canonical_json({"schemaVersion": 1, "name": repo, "tag": "v1", "fsLayers": []})
    fault_proxy.fail("GET", "/manifests/v1", 200, headers={"Content-Type": media_type}, body=body)
    with pytest.raises(UnsupportedMediaType, match="Docker schema 1") as exc:
        fault_proxy.client().resolve(repo, "v1")
    assert media_type in str(exc.value)


class _Storage:
    """A stand-in storage back-end (another host:port) that records what it was sent."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.seen: list[dict] = []
        storage = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                storage.seen.append(dict(self.headers.items()))
                write_answer(self, 200, {}, blobs[self.path.split("/")[-1].split("?")[0]])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_redirect_to_storage_does_not_forward_credentials(fault_proxy, image):
    repo, built = image
    layer_digest = built.layer_digests[0]
    storage = _Storage({layer_digest: built.blobs[layer_digest]})
    try:
        location = f"{storage.url}/bucket/{layer_digest}?X-Amz-Signature=abc"
        fault_proxy.fail("GET", f"/blobs/{layer_digest}", 307, headers={"Location": location})
        client = fault_proxy.client()
        client.ping()  # learn the Basic scheme so the blob GET carries credentials
        with client.open_blob(repo, layer_digest) as stream:
            assert stream.read() == built.blobs[layer_digest]
    finally:
        storage.stop()
    (blob_request,) = [r for r in fault_proxy.seen if layer_digest in r.path]
    assert blob_request.headers["Authorization"].startswith("Basic ")
    assert len(storage.seen) == 1
    assert "authorization" not in {k.lower() for k in storage.seen[0]}


def test_a_redirect_to_the_metadata_address_is_refused(fault_proxy, image):
    repo, built = image
    layer_digest = built.layer_digests[0]
    location = "http://169.254.169.254/latest/meta-data/"
    fault_proxy.fail("GET", f"/blobs/{layer_digest}", 302, headers={"Location": location})
    with pytest.raises(ProviderError, match="cloud metadata address") as exc:
        with fault_proxy.client().open_blob(repo, layer_digest) as stream:
            stream.read()
    assert exc.value.permanent


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254", "a cloud metadata address"),
        ("https://169.254.10.20:5000", "a link-local address"),
        ("https://[fe80::1]:5000", "a link-local address"),
        ("http://0.0.0.0:5000", "the unspecified address"),
    ],
)
def test_the_outbound_guard_refuses_blocked_registry_urls(url, reason):
    client = DistributionClient(PullAuth(base_url=url), retries=0)
    with pytest.raises(ProviderError, match=reason) as exc:
        client.ping()
    assert exc.value.permanent and "REGSCAN_ALLOWED_PRIVATE_NETWORKS" in str(exc.value)
    assert sum(client.stats.values()) == 0  # refused before any request


def test_the_outbound_guard_allows_loopback(registry):
    client = registry.client()
    client.ping()
    assert client.stats["ping"] == 2


def test_no_secret_reaches_logs_or_messages(fault_proxy, image, caplog, sleeps):
    repo, built = image
    secret = fault_proxy.upstream.password
    caplog.set_level("DEBUG")
    fault_proxy.fail("GET", "/manifests/v1", 503, times=2)
    client = fault_proxy.client(sleep=sleeps)
    client.get_manifest(repo, "v1")
    bad = DistributionClient(fault_proxy.pull_auth(password=Secret(secret + "-old")), sleep=sleeps)
    with pytest.raises(ProviderError) as exc:
        bad.get_manifest(repo, "v1")
    assert "retry 1/4" in caplog.text  # the retries were logged...
    basic = base64.b64encode(f"{fault_proxy.upstream.username}:{secret}".encode()).decode()
    for text in (caplog.text, str(exc.value), repr(exc.value)):
        assert secret not in text and basic not in text  # ...without any credential
