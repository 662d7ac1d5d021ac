"""The engine on in-memory layer streams: compression sniffing, whiteouts, opaque directories,
replacement of package databases in later layers, and the per-layer cache round trip."""

from __future__ import annotations

import io

import pytest

from scans.engine.pipeline import analyze_layer, build_inventory
from scans.engine.types import LayerResult, Limits
from tests.support.layers import apk_installed
from tests.support.oci_images import compress, make_layer

DPKG_A = b"Package: a\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\n\n"
DPKG_B = b"Package: b\nStatus: install ok installed\nVersion: 2.0-1\nArchitecture: amd64\n\n"


def analyze(digest: str, files: dict, compression: str = "gzip", **limits) -> LayerResult:
    blob = compress(make_layer(files), compression)
    return analyze_layer(digest, io.BytesIO(blob), limits=Limits(**limits))


def names(results: list[LayerResult]) -> set[str]:
    return {p.name for p in build_inventory(results).packages}


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_it_reads_each_compression(compression):
    result = analyze("sha256:1", {"var/lib/dpkg/status": DPKG_A}, compression)
    assert names([result]) == {"a"}
    assert result.uncompressed_bytes == len(make_layer({"var/lib/dpkg/status": DPKG_A}))


def test_a_whiteout_in_a_later_layer_deletes_the_database():
    base = analyze("sha256:1", {"var/lib/dpkg/status": DPKG_A, "app/x.txt": b"x"})
    top = analyze("sha256:2", {"var/lib/dpkg/status": ("whiteout",)})
    assert names([base]) == {"a"}
    assert names([base, top]) == set()
    assert top.whiteouts == ["var/lib/dpkg/status"]


def test_a_later_layer_replacing_the_database_wins():
    base = analyze("sha256:1", {"var/lib/dpkg/status": DPKG_A})
    top = analyze("sha256:2", {"var/lib/dpkg/status": DPKG_B})
    inventory = build_inventory([base, top])
    assert [(p.name, p.layer_digest) for p in inventory.packages] == [("b", "sha256:2")]


def test_an_opaque_directory_hides_lower_content_but_keeps_its_own():
    lib = "usr/lib/python3/dist-packages"
    meta = "Metadata-Version: 2.1\nName: {0}\nVersion: 1.0\n\n".format
    base = analyze(
        "sha256:1",
        {
            f"{lib}/old-1.0.dist-info/METADATA": meta("old").encode(),
            "lib/apk/db/installed": apk_installed([{"P": "musl", "V": "1.2.4-r2"}]),
        },
    )
    top = analyze(
        "sha256:2",
        {f"{lib}/": ("opaque",), f"{lib}/new-1.0.dist-info/METADATA": meta("new").encode()},
    )
    assert top.opaque_dirs == [lib]
    assert names([base, top]) == {"new", "musl"}


def test_a_symlink_replacing_a_database_removes_it():
    base = analyze("sha256:1", {"var/lib/dpkg/status": DPKG_A})
    top = analyze("sha256:2", {"var/lib/dpkg/status": ("symlink", "/dev/null")})
    assert names([base, top]) == set()


def test_a_hard_link_to_a_claimed_file_is_analyzed_as_that_file():
    meta = b"Name: Foo_Bar\nVersion: 3.1\n\n"
    result = analyze(
        "sha256:1",
        {
            "a/foo-3.1.dist-info/METADATA": meta,
            "b/foo-3.1.dist-info/METADATA": ("hardlink", "a/foo-3.1.dist-info/METADATA"),
        },
    )
    assert sorted(p.path for p in build_inventory([result]).packages) == [
        "/a/foo-3.1.dist-info/METADATA",
        "/b/foo-3.1.dist-info/METADATA",
    ]


def test_unclaimed_files_are_never_read_so_they_may_exceed_the_file_cap():
    result = analyze(
        "sha256:1",
        {"big.bin": b"\0" * 50_000, "var/lib/dpkg/status": DPKG_A},
        max_file_bytes=10_000,
    )
    assert names([result]) == {"a"}


def test_a_cached_layer_result_folds_like_a_fresh_one():
    base = analyze("sha256:1", {"var/lib/dpkg/status": DPKG_A, "etc/os-release": b"ID=debian\n"})
    top = analyze(
        "sha256:2",
        {
            "var/lib/dpkg/status": ("whiteout",),
            "x/node_modules/q/package.json": b'{"name":"q","version":"1.0.0"}',
        },
    )
    restored = [LayerResult.from_dict(r.digest, r.to_dict()) for r in (base, top)]
    assert build_inventory(restored) == build_inventory([base, top])
    assert [p.purl for p in build_inventory(restored).packages] == ["pkg:npm/q@1.0.0"]


def test_a_hard_link_to_an_unread_file_is_reported_not_silently_dropped():
    result = analyze(
        "sha256:1",
        {
            "store/meta": b"Name: foo\nVersion: 1\n\n",
            "a/foo-1.dist-info/METADATA": ("hardlink", "store/meta"),
        },
    )
    inventory = build_inventory([result])
    assert inventory.packages == []
    assert "hard link to /store/meta, which was not read" in inventory.warnings[0]
    assert result.entries == 2
