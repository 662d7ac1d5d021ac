"""os-release: required paths pinned, and parsing of the os-release files of common bases."""

from __future__ import annotations

import pytest

from scans.engine.analyzers import claimant
from scans.engine.analyzers.os_release import OsReleaseAnalyzer

# Trimmed copies of the real files shipped by these images.
SAMPLES = {
    "debian": (
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
        'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
        ("debian", "12", "bookworm"),
    ),
    "ubuntu": (
        'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
        'VERSION="22.04.4 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\nID=ubuntu\n'
        "ID_LIKE=debian\nUBUNTU_CODENAME=jammy\n",
        ("ubuntu", "22.04", "jammy"),
    ),
    "alpine": (
        'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n',
        ("alpine", "3.19.1", ""),
    ),
    "ubi": (
        'NAME="Red Hat Enterprise Linux"\nVERSION="9.3 (Plow)"\nID="rhel"\n'
        'ID_LIKE="fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Red Hat Enterprise Linux 9.3 (Plow)"\n',
        ("rhel", "9.3", "plow"),
    ),
    "fedora": (
        'NAME="Fedora Linux"\nVERSION="39 (Container Image)"\nID=fedora\nVERSION_ID=39\n'
        'VERSION_CODENAME=""\n',
        ("fedora", "39", ""),
    ),
    "amazonlinux": (
        'NAME="Amazon Linux"\nVERSION="2023"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n'
        'PRETTY_NAME="Amazon Linux 2023.3.20240131"\n',
        ("amzn", "2023", ""),
    ),
    "distroless": (
        'PRETTY_NAME="Distroless"\nNAME="Debian GNU/Linux"\nID="debian"\nVERSION_ID="12"\n'
        'VERSION="Debian GNU/Linux 12 (bookworm)"\nHOME_URL="https://github.com/GoogleContainerTools/distroless"\n',
        ("debian", "12", "bookworm"),
    ),
}


def test_it_claims_exactly_its_paths():
    assert OsReleaseAnalyzer.required_paths == ("etc/os-release", "usr/lib/os-release")
    assert isinstance(claimant("etc/os-release"), OsReleaseAnalyzer)
    assert claimant("etc/os-release.bak") is None


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_it_identifies_the_os(name):
    text, (os_id, version, codename) = SAMPLES[name]
    info = OsReleaseAnalyzer().analyze("etc/os-release", text.encode()).os
    assert (info.id, info.version_id, info.codename) == (os_id, version, codename)


def test_distro_qualifier():
    info = OsReleaseAnalyzer().analyze("etc/os-release", SAMPLES["debian"][0].encode()).os
    assert info.distro == "debian-12"
