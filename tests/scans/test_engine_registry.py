"""The engine end to end against the real local registry: images built from real content
(this machine's dpkg database, pip- and npm-installed packages, an apk database), whiteouts
across layers, a two-platform index, zstd and uncompressed layers, and the layer cache."""

from __future__ import annotations

import platform
import threading

import pytest
from django.db import connection

from scans.engine.analyzers import analyzer_versions
from scans.models import Layer, Sbom
from scans.services import default_limits, scan_image
from tests.support.layers import apk_installed, rpm_header_blob, rpmdb_sqlite
from tests.support.oci_images import make_layer

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def scan(registry, repo: str, ref: str, client=None):
    client = client or registry.client()
    resolved = client.resolve(repo, ref)
    return [scan_image(client, repo, pi, limits=default_limits()) for pi in resolved.images]


def package_set(sbom: Sbom, ecosystem: str, fields=("name", "version")) -> set[tuple]:
    return set(sbom.packages.filter(ecosystem=ecosystem).values_list(*fields))


def test_the_machines_dpkg_database_matches_dpkg_query(registry, repo_name, dpkg_root):
    digest = registry.push_image(repo_name, "v1", [make_layer(dpkg_root.files)])
    [sbom] = scan(registry, repo_name, "v1")
    fields = ("name", "version", "source_name", "source_version")
    assert package_set(sbom, "deb", fields) == dpkg_root.expected
    os_release = platform.freedesktop_os_release()
    assert (sbom.os_id, sbom.os_version) == (os_release["ID"], os_release.get("VERSION_ID", ""))
    layer = registry.images[digest].layer_digests[0]
    assert set(sbom.packages.values_list("layer_digest", flat=True)) == {layer}
    distro = f"distro={os_release['ID']}-{os_release.get('VERSION_ID', '')}"
    assert all(distro in purl for purl in sbom.packages.values_list("purl", flat=True))


def test_pip_and_npm_layers_on_a_base(registry, repo_name, dpkg_root, pip_root, npm_root):
    layers = [make_layer(dpkg_root.files), make_layer(pip_root.files), make_layer(npm_root.files)]
    digest = registry.push_image(repo_name, "app", layers)
    [sbom] = scan(registry, repo_name, "app")
    assert package_set(sbom, "pypi") == pip_root.expected
    assert package_set(sbom, "npm") == npm_root.expected
    built = registry.images[digest]
    pip_layer = set(sbom.packages.filter(ecosystem="pypi").values_list("layer_digest", flat=True))
    assert pip_layer == {built.layer_digests[1]}
    assert "pkg:npm/lodash@4.17.15" in set(sbom.packages.values_list("purl", flat=True))
    assert "pkg:pypi/urllib3@1.26.5" in set(sbom.packages.values_list("purl", flat=True))


def test_an_apk_image_with_a_later_whiteout_and_opaque_dir(registry, repo_name):
    db = apk_installed(
        [
            {"P": "musl", "V": "1.2.4-r2", "A": "x86_64", "o": "musl"},
            {"P": "libssl3", "V": "3.1.4-r5", "A": "x86_64", "o": "openssl"},
        ]
    )
    site = "usr/lib/python3.11/site-packages"
    base = make_layer(
        {
            "etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n",
            "lib/apk/db/installed": db,
            f"{site}/pip-23.0.dist-info/METADATA": b"Name: pip\nVersion: 23.0\n\n",
            "app/package-lock.json": b'{"lockfileVersion":3,"packages":{"":{},"node_modules/ms":{"version":"2.1.3"}}}',
        }
    )
    top = make_layer(
        {
            "app/package-lock.json": ("whiteout",),
            f"{site}/": ("opaque",),
            f"{site}/setuptools-69.0.dist-info/METADATA": b"Name: setuptools\nVersion: 69.0\n\n",
        }
    )
    registry.push_image(repo_name, "v1", [base, top])
    [sbom] = scan(registry, repo_name, "v1")
    assert package_set(sbom, "apk", ("name", "version", "source_name")) == {
        ("musl", "1.2.4-r2", "musl"),
        ("libssl3", "3.1.4-r5", "openssl"),
    }
    assert package_set(sbom, "pypi") == {("setuptools", "69.0")}
    assert package_set(sbom, "npm") == set()
    assert sbom.os_id == "alpine"


def test_a_two_platform_index_gives_one_sbom_per_platform(registry, repo_name):
    def status(arch: str) -> bytes:
        return f"Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nArchitecture: {arch}\n\n".encode()

    registry.push_index(
        repo_name,
        "multi",
        [
            {
                "platform": "linux/amd64",
                "layers": [make_layer({"var/lib/dpkg/status": status("amd64")})],
            },
            {
                "platform": "linux/arm64",
                "layers": [make_layer({"var/lib/dpkg/status": status("arm64")})],
            },
        ],
    )
    sboms = scan(registry, repo_name, "multi")
    arches = [set(s.packages.values_list("arch", flat=True)) for s in sboms]
    assert arches == [{"amd64"}, {"arm64"}]


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_zstd_and_uncompressed_layers(registry, repo_name, compression):
    layer = make_layer({"var/lib/dpkg/status": b"Package: a\nVersion: 1\n\n"})
    registry.push_image(repo_name, "v1", [layer], compression=compression)
    [sbom] = scan(registry, repo_name, "v1")
    assert package_set(sbom, "deb") == {("a", "1")}


class SpyClient:
    """Wraps a DistributionClient and records which blobs are opened."""

    def __init__(self, client) -> None:
        self.client = client
        self.opened: list[str] = []

    def open_blob(self, repository, digest):
        self.opened.append(digest)
        return self.client.open_blob(repository, digest)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_a_second_image_sharing_the_base_layer_does_not_read_it_again(
    registry, repo_name, dpkg_root
):
    base = make_layer(dpkg_root.files)
    first = registry.push_image(repo_name, "one", [base, make_layer({"a.txt": b"1"})])
    second = registry.push_image(repo_name, "two", [base, make_layer({"b.txt": b"2"})])
    base_digest = registry.images[first].layer_digests[0]
    assert registry.images[second].layer_digests[0] == base_digest
    spy = SpyClient(registry.client())
    scan(registry, repo_name, "one", spy)
    assert base_digest in spy.opened
    spy.opened.clear()
    [sbom] = scan(registry, repo_name, "two", spy)
    assert spy.opened == [registry.images[second].layer_digests[1]]
    assert sbom.packages.filter(ecosystem="deb").count() == len(dpkg_root.expected)
    assert Layer.objects.filter(digest=base_digest).count() == 1


def test_an_sbom_is_reused_and_an_analyzer_bump_reanalyzes(registry, repo_name):
    layer = make_layer({"var/lib/dpkg/status": b"Package: a\nVersion: 1\n\n"})
    registry.push_image(repo_name, "v1", [layer])
    spy = SpyClient(registry.client())
    [first] = scan(registry, repo_name, "v1", spy)
    spy.opened.clear()
    [again] = scan(registry, repo_name, "v1", spy)
    assert (again.pk, spy.opened) == (first.pk, [])
    Layer.objects.update(analyzer_versions={**analyzer_versions(), "dpkg": 0})
    Sbom.objects.filter(pk=first.pk).update(analyzer_versions={"dpkg": 0})
    [bumped] = scan(registry, repo_name, "v1", spy)
    assert bumped.pk == first.pk and len(spy.opened) == 1
    assert bumped.packages.count() == 1
    assert Layer.objects.get().analyzer_versions == analyzer_versions()


@pytest.mark.django_db(transaction=True)
def test_concurrent_scans_sharing_a_layer_store_each_digest_once(registry, repo_name):
    status = b"".join(
        f"Package: p{i}\nStatus: install ok installed\nVersion: 1.{i}\n\n".encode()
        for i in range(50)
    )
    base = make_layer({"var/lib/dpkg/status": status})
    digests = [
        registry.push_image(repo_name, tag, [base, make_layer({f"{tag}.txt": tag.encode()})])
        for tag in ("a", "b")
    ]
    barrier = threading.Barrier(6)
    sbom_ids: list[int] = []
    errors: list[BaseException] = []

    def worker(tag: str) -> None:
        try:
            client = registry.client()
            barrier.wait()
            sbom_ids.extend(s.pk for s in scan(registry, repo_name, tag, client))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(tag,)) for tag in "ababab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(sbom_ids)) == 2
    assert sorted(Sbom.objects.values_list("digest", flat=True)) == sorted(digests)
    layer_digests = {d for digest in digests for d in registry.images[digest].layer_digests}
    assert Layer.objects.filter(digest__in=layer_digests).count() == 3
    for sbom in Sbom.objects.all():
        assert sbom.packages.count() == 50


def test_an_rpm_image_and_a_berkeleydb_warning(registry, repo_name):
    headers = [
        rpm_header_blob({1000: "bash", 1001: "5.1.8", 1002: "6.el9_1", 1022: "x86_64",
                         1044: "bash-5.1.8-6.el9_1.src.rpm"}),
        rpm_header_blob({1000: "openssl-libs", 1003: 1, 1001: "3.0.7", 1002: "24.el9",
                         1022: "x86_64", 1044: "openssl-3.0.7-24.el9.src.rpm"}),
    ]  # fmt: skip
    os_release = b'ID="rhel"\nVERSION_ID="9.3"\nNAME="Red Hat Enterprise Linux"\n'
    ubi = make_layer(
        {"etc/os-release": os_release, "usr/lib/sysimage/rpm/rpmdb.sqlite": rpmdb_sqlite(headers)}
    )
    registry.push_image(repo_name, "ubi", [ubi])
    [sbom] = scan(registry, repo_name, "ubi")
    assert package_set(sbom, "rpm", ("name", "version", "source_name")) == {
        ("bash", "5.1.8-6.el9_1", "bash"),
        ("openssl-libs", "1:3.0.7-24.el9", "openssl"),
    }
    assert sbom.packages.get(name="openssl-libs").purl.startswith(
        "pkg:rpm/redhat/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rhel-9.3&epoch=1"
    )
    old = make_layer({"etc/os-release": os_release, "var/lib/rpm/Packages": b"\0" * 8192})
    registry.push_image(repo_name, "centos7", [old])
    [sbom] = scan(registry, repo_name, "centos7")
    assert sbom.packages.count() == 0
    assert any("BerkeleyDB" in w for w in sbom.warnings)
