"""Layer claims: two workers scanning images that share a new layer download it once; a stale
claim (dead claimer) is taken over; a failing claimer releases its claim to the waiter."""

from __future__ import annotations

import os
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from integrations.providers.base import ProviderError
from scans import services
from scans.engine.analyzers import analyzer_versions
from scans.models import Layer, Sbom
from scans.services import default_limits, scan_image
from tests.support.oci_images import make_layer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PACKAGES = 40


def shared_base() -> bytes:
    """A big-ish layer (1 MiB of incompressible bytes) holding a dpkg database."""
    status = b"".join(
        f"Package: p{i}\nStatus: install ok installed\nVersion: 1.{i}\n\n".encode()
        for i in range(PACKAGES)
    )
    return make_layer({"var/lib/dpkg/status": status, "opt/blob.bin": os.urandom(1 << 20)})


class SpyClient:
    """A DistributionClient that records the blobs it opens; ``on_open(digest)`` runs first."""

    def __init__(self, client, on_open=None):
        self.client = client
        self.opened: list[str] = []
        self.on_open = on_open

    def open_blob(self, repository, digest):
        self.opened.append(digest)
        if self.on_open is not None:
            self.on_open(digest)
        return self.client.open_blob(repository, digest)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture
def waiting(monkeypatch) -> threading.Event:
    """Set as soon as some worker pauses because another one holds a fresh claim."""
    event = threading.Event()
    pause = services._pause

    def recording_pause() -> None:
        event.set()
        pause()

    monkeypatch.setattr(services, "_pause", recording_pause)
    return event


def run_in_threads(*jobs):
    """Run each job in its own thread (own DB connection); return (results, errors) by job."""
    results: list = [None] * len(jobs)
    errors: list = [None] * len(jobs)

    def run(i, job):
        try:
            results[i] = job()
        except BaseException as exc:  # collected and asserted by the test
            errors[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_two_workers_sharing_a_new_layer_download_it_once(registry, repo_name, waiting):
    base = shared_base()
    digests = [
        registry.push_image(repo_name, tag, [base, make_layer({f"{tag}.txt": tag.encode()})])
        for tag in ("a", "b")
    ]
    shared = registry.images[digests[0]].layer_digests[0]
    assert registry.images[digests[1]].layer_digests[0] == shared

    def hold_until_the_other_waits(digest):
        # Whoever claims the shared layer first keeps it until the other worker is waiting,
        # so the two scans really overlap on it.
        if digest == shared:
            waiting.wait(10)

    spies = [SpyClient(registry.client(), hold_until_the_other_waits) for _ in digests]
    images = [spy.resolve(repo_name, d).images[0] for spy, d in zip(spies, digests, strict=True)]
    before = sum(spy.bytes_downloaded for spy in spies)  # the manifests

    def job(spy, image):
        return lambda: scan_image(spy, repo_name, image, limits=default_limits())

    sboms, errors = run_in_threads(*(job(s, i) for s, i in zip(spies, images, strict=True)))

    assert errors == [None, None]
    assert waiting.is_set()
    assert sum(spy.opened.count(shared) for spy in spies) == 1
    unique = {layer.digest: layer.size for image in images for layer in image.layers}
    assert sum(spy.bytes_downloaded for spy in spies) - before == sum(unique.values())
    for sbom, digest in zip(sboms, digests, strict=True):
        assert sbom.digest == digest
        assert sbom.packages.filter(ecosystem="deb").count() == PACKAGES
    row = Layer.objects.get(digest=shared)
    assert (row.claimed_by, row.claimed_at) == ("", None)
    assert row.analyzer_versions == analyzer_versions()


def test_a_stale_claim_of_a_dead_worker_is_taken_over(registry, repo_name, settings):
    settings.REGSCAN_LAYER_CLAIM_SECONDS = 60
    layer = make_layer({"var/lib/dpkg/status": b"Package: a\nVersion: 1\n\n"})
    digest = registry.push_image(repo_name, "v1", [layer])
    layer_digest = registry.images[digest].layer_digests[0]
    Layer.objects.create(
        digest=layer_digest,
        claimed_by="dead-host:1:1:deadbeef",
        claimed_at=timezone.now() - timedelta(seconds=61),
    )
    spy = SpyClient(registry.client())
    [image] = spy.resolve(repo_name, "v1").images

    sbom = scan_image(spy, repo_name, image, limits=default_limits())

    assert spy.opened == [layer_digest]
    assert list(sbom.packages.values_list("name", flat=True)) == ["a"]
    row = Layer.objects.get(digest=layer_digest)
    assert (row.claimed_by, row.analyzer_versions) == ("", analyzer_versions())


def test_a_fresh_claim_row_is_not_a_result(registry, repo_name, settings, monkeypatch):
    """A claim row (no analyzer versions) is waited on, never read as an empty analysis."""
    settings.REGSCAN_LAYER_CLAIM_SECONDS = 60
    layer = make_layer({"var/lib/dpkg/status": b"Package: a\nVersion: 1\n\n"})
    digest = registry.push_image(repo_name, "v1", [layer])
    layer_digest = registry.images[digest].layer_digests[0]
    Layer.objects.create(digest=layer_digest, claimed_by="other", claimed_at=timezone.now())
    pauses: list[int] = []

    def release_after_two_polls() -> None:
        pauses.append(1)
        if len(pauses) == 2:  # the other worker gives up its claim
            Layer.objects.filter(digest=layer_digest).update(claimed_by="", claimed_at=None)

    monkeypatch.setattr(services, "_pause", release_after_two_polls)
    spy = SpyClient(registry.client())
    [image] = spy.resolve(repo_name, "v1").images

    sbom = scan_image(spy, repo_name, image, limits=default_limits())

    assert len(pauses) == 2 and spy.opened == [layer_digest]
    assert list(sbom.packages.values_list("name", flat=True)) == ["a"]


def test_a_failing_claimer_releases_the_layer_to_the_waiter(
    registry, repo_name, waiting, monkeypatch
):
    base = shared_base()
    digest = registry.push_image(repo_name, "v1", [base])
    shared = registry.images[digest].layer_digests[0]

    def fail_once_the_other_waits(opened):
        waiting.wait(10)
        raise ProviderError(f"connection reset while reading {opened}")

    failing = SpyClient(registry.client(), fail_once_the_other_waits)
    healthy = SpyClient(registry.client())
    [image] = healthy.resolve(repo_name, "v1").images
    claimed = threading.Event()
    real_claim = services._claim

    def noting_claim(layer, row, owner):
        won = real_claim(layer, row, owner)
        if won and threading.current_thread().name == "claimer":
            claimed.set()
        return won

    def claimer():
        threading.current_thread().name = "claimer"
        return scan_image(failing, repo_name, image, limits=default_limits())

    def waiter():
        claimed.wait(10)  # start only once the claimer holds the layer
        return scan_image(healthy, repo_name, image, limits=default_limits())

    monkeypatch.setattr(services, "_claim", noting_claim)
    (_, sbom), errors = run_in_threads(claimer, waiter)

    assert isinstance(errors[0], ProviderError) and errors[1] is None
    assert failing.opened == [shared] and healthy.opened == [shared]
    assert sbom.packages.filter(ecosystem="deb").count() == PACKAGES
    assert Sbom.objects.get().digest == digest
    row = Layer.objects.get(digest=shared)
    assert (row.claimed_by, row.analyzer_versions) == ("", analyzer_versions())
