"""Python: globs pinned; real dist-info from pip; egg-info (directory and file); PEP 503."""

from __future__ import annotations

import pytest

from scans.engine.analyzers import claimant
from scans.engine.analyzers.python import PythonAnalyzer, normalize_name


@pytest.mark.parametrize(
    "path, claimed",
    [
        ("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", True),
        ("opt/app/vendor/lib/foo-1.0.egg-info/PKG-INFO", True),
        ("usr/lib/python3.11/lib-dynload/setuptools-65.egg-info", True),
        ("usr/lib/python3/dist-packages/six-1.16.0.dist-info/RECORD", False),
        ("usr/share/doc/METADATA", False),
        ("srv/PKG-INFO", False),
    ],
)
def test_it_claims_its_globs(path, claimed):
    assert isinstance(claimant(path), PythonAnalyzer) is claimed


@pytest.mark.slow
def test_it_reads_pip_installed_dist_info(pip_root):
    analyzer = PythonAnalyzer()
    found = set()
    for path, content in pip_root.files.items():
        if analyzer.claims(path):
            found |= {(p.name, p.version) for p in analyzer.analyze(path, content).packages}
    assert found == pip_root.expected


def test_egg_info_names_are_normalised():
    pkg_info = b"Metadata-Version: 1.1\nName: Zope.Interface\nVersion: 5.4.0\n\nName: not-this\n"
    [pkg] = PythonAnalyzer().analyze("x/zope.interface-5.4.0-py3.11.egg-info", pkg_info).packages
    assert (pkg.name, pkg.version) == ("zope-interface", "5.4.0")
    assert PythonAnalyzer().purl(pkg, None) == "pkg:pypi/zope-interface@5.4.0"


def test_metadata_without_a_version_is_skipped():
    assert PythonAnalyzer().analyze("a.dist-info/METADATA", b"Name: x\n\n").packages == []


@pytest.mark.parametrize("name", ["Foo_Bar", "foo.bar", "FOO--bar", "foo-bar"])
def test_pep503(name):
    assert normalize_name(name) == "foo-bar"
