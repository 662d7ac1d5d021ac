"""npm: claims pinned; real node_modules from npm; lockfiles v1 and v3; de-duplication of
lockfile entries against installed packages."""

from __future__ import annotations

import json

import pytest

from scans.engine.analyzers import claimant
from scans.engine.analyzers.npm import NpmAnalyzer
from scans.engine.catalog import catalog
from scans.engine.types import LayerResult


@pytest.mark.parametrize(
    "path, claimed",
    [
        ("app/node_modules/lodash/package.json", True),
        ("node_modules/lodash/package.json", True),
        ("app/node_modules/@babel/core/package.json", True),
        ("app/node_modules/a/node_modules/b/package.json", True),
        ("app/node_modules/lodash/fp/package.json", False),
        ("app/package.json", False),
        ("app/package-lock.json", True),
        ("app/node_modules/.package-lock.json", False),
        ("app/node_modules/x/package-lock.json", False),
    ],
)
def test_it_claims_package_json_of_packages_and_app_lockfiles(path, claimed):
    assert isinstance(claimant(path), NpmAnalyzer) is claimed


@pytest.mark.slow
def test_it_reads_npm_installed_packages_and_deduplicates_the_lockfile(npm_root):
    analyzer = NpmAnalyzer()
    layer = LayerResult("sha256:1")
    for path, content in npm_root.files.items():
        if analyzer.claims(path):
            layer.files[path] = analyzer.analyze(path, content)
    assert "app/package-lock.json" in layer.files
    packages = catalog([layer]).packages
    assert {(p.name, p.version) for p in packages} == npm_root.expected
    assert all(p.path.endswith("/package.json") for p in packages)


def test_lockfile_v1_and_v3_of_an_application_without_node_modules():
    v1 = {
        "lockfileVersion": 1,
        "dependencies": {
            "express": {"version": "4.17.1", "dependencies": {"qs": {"version": "6.7.0"}}},
            "@types/node": {"version": "20.1.0"},
        },
    }
    v3 = {
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "app", "version": "1.0.0"},
            "node_modules/express": {"version": "4.17.1"},
            "node_modules/express/node_modules/qs": {"version": "6.7.0"},
            "node_modules/local": {"link": True, "resolved": "../local"},
        },
    }
    analyzer = NpmAnalyzer()
    for data in (v1, v3):
        out = analyzer.analyze("srv/package-lock.json", json.dumps(data).encode())
        got = {(p.name, p.version) for p in out.packages}
        assert {("express", "4.17.1"), ("qs", "6.7.0")} <= got
        assert ("local", "") not in got
    scoped = analyzer.analyze("srv/package-lock.json", json.dumps(v1).encode()).packages
    purls = {analyzer.purl(p, None) for p in scoped}
    assert "pkg:npm/%40types/node@20.1.0" in purls


def test_package_json_without_name_or_version_is_skipped():
    assert NpmAnalyzer().analyze("node_modules/x/package.json", b'{"name": "x"}').packages == []
    out = NpmAnalyzer().analyze("node_modules/x/package.json", b"{not json")
    assert out.packages == [] and "not valid JSON" in out.warnings[0]
