"""Matcher mechanics: GIT ranges, limit events, unparseable bounds, release mapping for
distros without records in vulndata (Ubuntu, Red Hat family), rpm ordering."""

from __future__ import annotations

import pytest

from scans.vulndb.api import match_sbom
from scans.vulndb.matchers import Distro, matcher_for_osv_ecosystem, matcher_for_package
from scans.vulndb.matchers.base import AffectedData, is_affected
from scans.vulndb.models import Affected
from tests.vulndb.factories import make_sbom, pkg


def entry(*ranges, versions=()) -> AffectedData:
    return AffectedData(1, "x", "x", list(ranges), list(versions))


def test_git_ranges_are_ignored(load):
    # PYSEC-2012-7 (django): a GIT range "introduced 0" with commit fixes, and ECOSYSTEM
    # [1.3, 1.3.4) + [1.4, 1.4.2). Read as versions, the GIT range would flag every release.
    load("pypi.osv.jsonl")
    stored = Affected.objects.get(vulnerability__osv_id="PYSEC-2012-7")
    assert [r["type"] for r in stored.ranges] == ["ECOSYSTEM"]
    ids = {f.vulnerability for f in match_sbom(make_sbom(packages=[pkg("django", "1.5", "pypi")]))}
    assert "PYSEC-2012-7" not in ids
    ids = {
        f.vulnerability for f in match_sbom(make_sbom(packages=[pkg("django", "1.4.1", "pypi")]))
    }
    assert "PYSEC-2012-7" in ids


def test_limit_caps_a_range():
    npm = matcher_for_package("npm")
    rng = {"type": "SEMVER", "events": [{"introduced": "0"}, {"limit": "2.0.0"}]}
    assert is_affected(npm, "1.9.9", entry(rng))
    assert not is_affected(npm, "2.0.0", entry(rng))


def test_unparseable_bounds_never_hide_a_vulnerability():
    pypi = matcher_for_package("pypi")
    # A commit hash where an ECOSYSTEM `fixed` belongs (a data error; real ones sit in GIT
    # ranges, as in PYSEC-2022-304) is ignored: the range stays open rather than clean.
    rng = {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5b6b257fa7ec"}]}
    assert is_affected(pypi, "1.0", entry(rng))
    # An unparseable installed version still matches an explicit `versions` entry.
    assert is_affected(pypi, "not a version!", entry(versions=["not a version!"]))


def test_rpm_epoch_and_release_ordering():
    rpm = matcher_for_package("rpm")
    rng = {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:2.0-1.el9"}]}
    assert is_affected(rpm, "3.0-1.el9", entry(rng))  # epoch 0 < 1
    assert not is_affected(rpm, "1:2.0-2.el9", entry(rng))


@pytest.mark.parametrize(
    ("ecosystem", "distro", "expected"),
    [
        ("deb", Distro("debian", "12"), ["Debian:12"]),
        ("deb", Distro("debian", "", "trixie"), ["Debian:13"]),
        ("deb", Distro("debian", "4.0"), ["Debian:4.0"]),
        ("deb", Distro("ubuntu", "22.04"), ["Ubuntu:22.04", "Ubuntu:22.04:"]),
        ("apk", Distro("alpine", "3.19.1"), ["Alpine:v3.19"]),
        ("rpm", Distro("rocky", "9.3"), ["Rocky Linux:9"]),
        ("rpm", Distro("almalinux", "8.9"), ["AlmaLinux:8"]),
        ("rpm", Distro("rhel", "9.2"), ["Red Hat:enterprise_linux:9:"]),
        ("apk", Distro("alpine", ""), []),
    ],
)
def test_release_mapping(ecosystem, distro, expected):
    assert matcher_for_package(ecosystem).osv_ecosystems(distro) == expected


def test_osv_ecosystem_to_matcher():
    assert matcher_for_osv_ecosystem("Ubuntu:22.04:LTS").name == "dpkg"
    assert matcher_for_osv_ecosystem("Alpine:v3.19").name == "apk"
    assert matcher_for_osv_ecosystem("PyPI").name == "pypi"
    assert matcher_for_osv_ecosystem("crates.io").name == "cargo"
    assert matcher_for_osv_ecosystem("NuGet") is None


@pytest.mark.parametrize(
    ("ecosystem", "name", "query", "installed", "fixed", "affected"),
    [
        # Maven: "group:artifact"; 2.9.10.1 < 2.9.10.8 and qualifiers sort before releases.
        (
            "maven",
            "com.fasterxml.jackson.core/jackson-databind",
            "com.fasterxml.jackson.core:jackson-databind",
            "2.9.10.1",
            "2.9.10.8",
            True,
        ),
        ("maven", "org.example:lib", "org.example:lib", "1.0-rc1", "1.0", True),
        # crates.io: "-" and "_" name the same crate.
        ("cargo", "tokio_util", "tokio-util", "0.7.3", "0.7.10", True),
        # RubyGems: prerelease "1.13.0.rc1" is before "1.13.0".
        ("gem", "nokogiri", "nokogiri", "1.13.0.rc1", "1.13.0", True),
        ("gem", "nokogiri", "nokogiri", "1.13.10", "1.13.9", False),
    ],
)
def test_other_language_ecosystems(ecosystem, name, query, installed, fixed, affected):
    from scans.vulndb.matchers import PackageRef

    matcher = matcher_for_package(ecosystem)
    ref = PackageRef(name=name, version=installed, ecosystem=ecosystem)
    assert [matcher.normalize_name(n) for n in matcher.query_names(ref)] == [
        matcher.normalize_name(query)
    ]
    rng = {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
    assert is_affected(matcher, installed, entry(rng)) is affected
