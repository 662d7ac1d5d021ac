"""Distro packages: Debian/Alpine advisories match the source (dpkg) / origin (apk) package
on the distro release of the SBOM. Expected answers come from reading the records in
/work/shared/vulndata (quoted in each test)."""

from __future__ import annotations

from scans.vulndb.api import match_sbom
from tests.vulndb.factories import alpine311_packages, debian11_packages, make_sbom, pkg


def found(sbom) -> set[tuple[str, str, str]]:
    return {(f.package, f.vulnerability, f.fixed_version) for f in match_sbom(sbom)}


def test_debian11_image_has_exactly_the_openssl_dsa(load):
    # Debian:11 records for these sources: openssl DSA-5343-1 (fixed 1.1.1n-0+deb11u4),
    # DSA-5169-1 (u3), DSA-5139-1 (u2), DSA-5103-1 (1.1.1k-1+deb11u2), DSA-4963-1
    # (1.1.1k-1+deb11u1); zlib DSA-5218-1 (1:1.2.11.dfsg-2+deb11u2), DSA-5111-1 (...u1);
    # glibc: none for Debian:11. Installed openssl 1.1.1n-0+deb11u3 is below only u4; zlib
    # 1:1.2.11.dfsg-2+deb11u2 is the fixed version itself (not affected).
    load("debian.osv.jsonl", "debian.more.osv.jsonl")
    sbom = make_sbom("debian", "11", debian11_packages())
    assert found(sbom) == {
        ("libssl1.1", "DSA-5343-1", "1.1.1n-0+deb11u4"),
        ("openssl", "DSA-5343-1", "1.1.1n-0+deb11u4"),
    }
    finding = next(f for f in match_sbom(sbom) if f.package == "libssl1.1")
    assert finding.source_name == "openssl"
    assert finding.version == "1.1.1n-0+deb11u3"


def test_binary_libc6_matches_its_source_glibc(load):
    # DLA-3152-1: Debian:10 glibc fixed 2.28-10+deb10u2.
    load("debian.osv.jsonl")
    old = make_sbom("debian", "10", [pkg("libc6", "2.28-10+deb10u1", "deb", "glibc")])
    new = make_sbom("debian", "10", [pkg("libc6", "2.28-10+deb10u2", "deb", "glibc")])
    no_source = make_sbom("debian", "10", [pkg("libc6", "2.28-10+deb10u1", "deb")])
    assert found(old) == {("libc6", "DLA-3152-1", "2.28-10+deb10u2")}
    assert found(new) == set()
    assert found(no_source) == set()  # "libc6" is not a source package name


def test_debian_epochs_order_before_everything_else(load):
    # zlib DSA-5111-1 fixed 1:1.2.11.dfsg-2+deb11u1, DSA-5218-1 fixed 1:1.2.11.dfsg-2+deb11u2.
    load("debian.osv.jsonl")
    with_epoch = make_sbom("debian", "11", [pkg("zlib1g", "1:1.2.11.dfsg-2", "deb", "zlib")])
    assert found(with_epoch) == {
        ("zlib1g", "DSA-5111-1", "1:1.2.11.dfsg-2+deb11u1"),
        ("zlib1g", "DSA-5218-1", "1:1.2.11.dfsg-2+deb11u2"),
    }
    # Without the epoch, 1.2.13 is still older than 1:1.2.11 (epoch 0 < 1): both apply.
    no_epoch = make_sbom("debian", "11", [pkg("zlib1g", "1.2.13.dfsg-1", "deb", "zlib")])
    assert {v for _p, v, _f in found(no_epoch)} == {"DSA-5111-1", "DSA-5218-1"}
    higher_epoch = make_sbom("debian", "11", [pkg("zlib1g", "2:1.0-1", "deb", "zlib")])
    assert found(higher_epoch) == set()


def test_debian_tilde_sorts_before_and_revisions_compare_numerically(load):
    load("debian.osv.jsonl")
    tilde = make_sbom("debian", "11", [pkg("openssl", "1.1.1n-0+deb11u4~pre1", "deb", "openssl")])
    assert found(tilde) == {("openssl", "DSA-5343-1", "1.1.1n-0+deb11u4")}
    # "+deb11u10" > "+deb11u4" although it sorts lower as a string.
    u10 = make_sbom("debian", "11", [pkg("openssl", "1.1.1n-0+deb11u10", "deb", "openssl")])
    assert found(u10) == set()


def test_source_version_is_compared_for_binnmu_binaries(load):
    load("debian.osv.jsonl")
    # A binNMU binary "+b1" built from the fixed source is not affected.
    sbom = make_sbom(
        "debian",
        "11",
        [pkg("libssl1.1", "1.1.1n-0+deb11u4+b1", "deb", "openssl", "1.1.1n-0+deb11u4")],
    )
    assert found(sbom) == set()


def test_debian_release_from_codename_when_version_is_missing(load):
    load("debian.osv.jsonl")
    sbom = make_sbom("debian", "", debian11_packages(), codename="bullseye")
    assert {v for _p, v, _f in found(sbom)} == {"DSA-5343-1"}


def test_a_release_without_data_is_reported_not_clean(load):
    load("debian.osv.jsonl", "alpine.osv.jsonl")
    for os_id, version, label in [
        ("debian", "13", "Debian 13"),
        ("debian", "12", "Debian 12"),
        ("alpine", "3.19.1", "Alpine 3.19"),
    ]:
        kind = "deb" if os_id == "debian" else "apk"
        sbom = make_sbom(os_id, version, [pkg("openssl", "1.0", kind, "openssl")])
        result = match_sbom(sbom)
        assert list(result) == []
        assert any(f"no vulnerability data for {label}" in w for w in result.coverage_warnings)
    covered = make_sbom("debian", "11", debian11_packages())
    assert match_sbom(covered).coverage_warnings == []


def test_alpine_r_revisions_on_the_origin_package(load):
    # ALPINE-CVE-2019-1551: Alpine:v3.11 openssl fixed 1.1.1d-r3; the other v3.11 openssl
    # records are fixed at 1.1.1a-r0, 1.1.1b-r1 and 1.1.1d-r1 (below -r2).
    load("alpine.osv.jsonl")
    sbom = make_sbom("alpine", "3.11.6", alpine311_packages())
    assert found(sbom) == {
        ("libcrypto1.1", "ALPINE-CVE-2019-1551", "1.1.1d-r3"),
        ("libssl1.1", "ALPINE-CVE-2019-1551", "1.1.1d-r3"),
    }
    fixed = make_sbom("alpine", "3.11.6", [pkg("libcrypto1.1", "1.1.1d-r3", "apk", "openssl")])
    assert found(fixed) == set()


def test_alpine_p_suffix_orders_after_the_plain_release(load):
    # v3.11 openssh: CVE-2016-10009..10012 fixed 7.4_p1-r0, CVE-2017-15906 7.5_p1-r8,
    # CVE-2018-15473 7.7_p1-r4, CVE-2018-20685/CVE-2019-6109/CVE-2019-6111 7.9_p1-r3.
    load("alpine.more.osv.jsonl")
    late = make_sbom("alpine", "3.11.6", [pkg("openssh-client", "7.9_p1-r2", "apk", "openssh")])
    assert {v for _p, v, _f in found(late)} == {
        "ALPINE-CVE-2018-20685",
        "ALPINE-CVE-2019-6109",
        "ALPINE-CVE-2019-6111",
    }
    plain = make_sbom("alpine", "3.11.6", [pkg("openssh", "7.4-r0", "apk", "openssh")])
    ids = {v for _p, v, _f in found(plain)}
    assert len(ids) == 9 and "ALPINE-CVE-2016-10009" in ids  # 7.4-r0 < 7.4_p1-r0
    current = make_sbom("alpine", "3.11.6", [pkg("openssh", "8.1_p1-r0", "apk", "openssh")])
    assert found(current) == set()


def test_several_affected_entries_for_one_package(load):
    # ALPINE-CVE-2019-5747 lists busybox twice for Alpine:v3.11: fixed 1.30.1-r2 and
    # 1.29.3-r10; ALPINE-CVE-2018-20679 fixed 1.29.3-r10.
    load("alpine.osv.jsonl")
    on_130 = make_sbom("alpine", "3.11.0", [pkg("busybox", "1.30.1-r1", "apk", "busybox")])
    assert found(on_130) == {("busybox", "ALPINE-CVE-2019-5747", "1.30.1-r2")}
    on_129 = make_sbom("alpine", "3.11.0", [pkg("busybox", "1.29.3-r9", "apk", "busybox")])
    # 1.29.3-r10 is still inside the [0, 1.30.1-r2) entry, so the first real fix is 1.30.1-r2.
    assert found(on_129) == {
        ("busybox", "ALPINE-CVE-2018-20679", "1.29.3-r10"),
        ("busybox", "ALPINE-CVE-2019-5747", "1.30.1-r2"),
    }
