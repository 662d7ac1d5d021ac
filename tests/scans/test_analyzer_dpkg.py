"""dpkg: required paths pinned; the real status file of this machine against dpkg-query;
distroless status.d; Source with and without a version; non-installed states skipped."""

from __future__ import annotations

import pytest

from scans.engine.analyzers import claimant
from scans.engine.analyzers.dpkg import DpkgAnalyzer
from scans.engine.types import OsInfo

DISTROLESS_LIBSSL = b"""Package: libssl3
Version: 3.0.11-1~deb12u2
Architecture: amd64
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Installed-Size: 6165
Depends: libc6 (>= 2.34)
Section: libs
Priority: optional
Multi-Arch: same
Homepage: https://www.openssl.org/
Description: Secure Sockets Layer toolkit - shared libraries
Source: openssl
"""


@pytest.mark.parametrize(
    "path, claimed",
    [
        ("var/lib/dpkg/status", True),
        ("var/lib/dpkg/status.d/libssl3", True),
        ("var/lib/dpkg/status.d/libssl3.md5sums", False),
        ("var/lib/dpkg/status.d/sub/x", False),
        ("var/lib/dpkg/status-old", False),
        ("usr/var/lib/dpkg/status", False),
    ],
)
def test_it_claims_exactly_its_paths(path, claimed):
    assert isinstance(claimant(path), DpkgAnalyzer) is claimed


@pytest.mark.slow
def test_it_matches_dpkg_query_on_this_machines_database(dpkg_root):
    out = DpkgAnalyzer().analyze("var/lib/dpkg/status", dpkg_root.files["var/lib/dpkg/status"])
    got = {(p.name, p.version, p.source_name, p.source_version) for p in out.packages}
    assert got == dpkg_root.expected
    assert len(got) == len(out.packages)


def test_distroless_status_d_and_source_without_version():
    [pkg] = DpkgAnalyzer().analyze("var/lib/dpkg/status.d/libssl3", DISTROLESS_LIBSSL).packages
    assert (pkg.name, pkg.version, pkg.source_name, pkg.source_version, pkg.arch) == (
        "libssl3",
        "3.0.11-1~deb12u2",
        "openssl",
        "3.0.11-1~deb12u2",
        "amd64",
    )
    purl = DpkgAnalyzer().purl(pkg, OsInfo(id="debian", version_id="12"))
    assert purl == (
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"
    )


def test_source_with_its_own_version_and_removed_packages():
    status = (
        b"Package: libgcc-s1\nStatus: install ok installed\nVersion: 12.2.0-14\n"
        b"Source: gcc-12 (12.2.0-14)\nArchitecture: amd64\nDescription: x\n more text\n\n"
        b"Package: libpam0g\nStatus: install ok installed\nVersion: 1.5.2-6+deb12u1\n"
        b"Source: pam\n\n"
        b"Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n"
        b"Package: e2fsprogs\nStatus: install ok installed\nVersion: 1.47.0-2\n"
        b"Source: e2fsprogs (1:1.47.0-2)\n"
    )
    got = [
        (p.name, p.source_name, p.source_version)
        for p in DpkgAnalyzer().analyze("var/lib/dpkg/status", status).packages
    ]
    assert got == [
        ("libgcc-s1", "gcc-12", "12.2.0-14"),
        ("libpam0g", "pam", "1.5.2-6+deb12u1"),
        ("e2fsprogs", "e2fsprogs", "1:1.47.0-2"),
    ]
