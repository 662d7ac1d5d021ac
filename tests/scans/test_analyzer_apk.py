"""apk: required paths pinned; name, version, arch and origin from an apk database."""

from __future__ import annotations

from scans.engine.analyzers import claimant
from scans.engine.analyzers.apk import ApkAnalyzer
from scans.engine.catalog import catalog
from scans.engine.types import LayerResult, OsInfo
from tests.support.layers import apk_installed

DB = apk_installed(
    [
        {"P": "musl", "V": "1.2.4_git20230717-r4", "A": "x86_64", "o": "musl"},
        {"P": "libcrypto3", "V": "3.1.4-r5", "A": "x86_64", "o": "openssl"},
        {"P": "busybox-binsh", "V": "1.36.1-r15", "A": "x86_64", "o": "busybox"},
    ]
)


def test_it_claims_exactly_its_paths():
    assert ApkAnalyzer.required_paths == ("lib/apk/db/installed", "usr/lib/apk/db/installed")
    assert isinstance(claimant("lib/apk/db/installed"), ApkAnalyzer)
    assert claimant("lib/apk/db/scripts.tar") is None


def test_it_reads_names_versions_and_origins():
    out = ApkAnalyzer().analyze("lib/apk/db/installed", DB)
    assert [(p.name, p.version, p.source_name, p.arch) for p in out.packages] == [
        ("musl", "1.2.4_git20230717-r4", "musl", "x86_64"),
        ("libcrypto3", "3.1.4-r5", "openssl", "x86_64"),
        ("busybox-binsh", "1.36.1-r15", "busybox", "x86_64"),
    ]


def test_purls_carry_the_distro_and_upstream():
    layer = LayerResult(
        "sha256:1",
        files={
            "lib/apk/db/installed": ApkAnalyzer().analyze("lib/apk/db/installed", DB),
        },
    )
    alpine = OsInfo(id="alpine", version_id="3.19.1")
    from scans.engine.analyzers.os_release import OsReleaseAnalyzer

    layer.files["etc/os-release"] = OsReleaseAnalyzer().analyze(
        "etc/os-release", f"ID={alpine.id}\nVERSION_ID={alpine.version_id}\n".encode()
    )
    purls = {p.name: p.purl for p in catalog([layer]).packages}
    assert purls["libcrypto3"] == (
        "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl"
    )
