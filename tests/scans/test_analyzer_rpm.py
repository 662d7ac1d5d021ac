"""rpm: the sqlite rpmdb's header blobs (built here in rpm's documented header layout: index
count, data size, 16-byte big-endian index entries, data store) and the BerkeleyDB warning."""

from __future__ import annotations

import struct

import pytest

from scans.engine.analyzers import claimant
from scans.engine.analyzers.rpm import RpmAnalyzer, split_source_rpm
from scans.engine.types import OsInfo, ScanError
from tests.support.layers import rpm_header_blob as header_blob
from tests.support.layers import rpmdb_sqlite as rpmdb

OPENSSL = {
    1000: "openssl-libs",
    1003: 1,
    1001: "3.0.7",
    1002: "24.el9",
    1022: "x86_64",
    1044: "openssl-3.0.7-24.el9.src.rpm",
}
BASH = {
    1000: "bash",
    1001: "5.1.8",
    1002: "6.el9_1",
    1022: "x86_64",
    1044: "bash-5.1.8-6.el9_1.src.rpm",
}


def test_it_claims_exactly_its_paths():
    assert RpmAnalyzer.required_paths[:2] == (
        "var/lib/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
    )
    assert isinstance(claimant("var/lib/rpm/Packages"), RpmAnalyzer)
    assert claimant("var/lib/rpm/rpmdb.sqlite-shm") is None


def test_it_reads_the_sqlite_rpmdb():
    out = RpmAnalyzer().analyze(
        "var/lib/rpm/rpmdb.sqlite", rpmdb([header_blob(OPENSSL), header_blob(BASH)])
    )
    got = [
        (p.name, p.version, p.epoch, p.arch, p.source_name, p.source_version) for p in out.packages
    ]
    assert got == [
        ("openssl-libs", "1:3.0.7-24.el9", "1", "x86_64", "openssl", "3.0.7-24.el9"),
        ("bash", "5.1.8-6.el9_1", "", "x86_64", "bash", "5.1.8-6.el9_1"),
    ]
    purl = RpmAnalyzer().purl(out.packages[0], OsInfo(id="rhel", version_id="9.3"))
    assert purl == (
        "pkg:rpm/redhat/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rhel-9.3&epoch=1"
        "&upstream=openssl-3.0.7-24.el9.src.rpm"
    )


def test_berkeleydb_is_reported_as_unsupported_not_empty():
    out = RpmAnalyzer().analyze("var/lib/rpm/Packages", b"\0" * 4096)
    assert out.packages == []
    assert "BerkeleyDB" in out.warnings[0]


@pytest.mark.parametrize("blob", [b"\0\0", struct.pack(">ii", 5, 10) + b"\0" * 8])
def test_malformed_headers_fail_cleanly(blob):
    with pytest.raises(ScanError, match="rpm header"):
        RpmAnalyzer().analyze("var/lib/rpm/rpmdb.sqlite", rpmdb([blob]))


def test_a_file_that_is_not_sqlite_fails_cleanly():
    with pytest.raises(ScanError, match="not a readable rpm sqlite database"):
        RpmAnalyzer().analyze("var/lib/rpm/rpmdb.sqlite", b"garbage" * 100)


def test_split_source_rpm():
    assert split_source_rpm("glibc-2.34-83.el9_3.7.src.rpm") == ("glibc", "2.34-83.el9_3.7")
