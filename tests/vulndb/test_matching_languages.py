"""Language packages (PyPI, npm, Go): expected answers come from reading the records in
/work/shared/vulndata, quoted in each test; nothing here is computed by the matcher."""

from __future__ import annotations

from scans.vulndb.api import match_sbom
from tests.vulndb.factories import make_sbom, pkg

# django 3.2.0 (= "3.2" on PyPI): the pypi.osv.jsonl records whose ranges contain 3.2 (each
# has an `introduced: 3.2` event with a 3.2.x fix, or `introduced: 3.0` ... `fixed: 3.2.4`),
# which is also exactly the set whose `versions` list contains "3.2". PYSEC-2022-190/191 list
# their events in descending order (4.0, 3.2, 2.2) and PYSEC-2023-100 out of order; many also
# carry a GIT range (e.g. PYSEC-2022-304 "introduced 0" .. a commit), which must be ignored.
DJANGO_32 = {
    "PYSEC-2021-109": "3.2.5",
    "PYSEC-2021-439": "3.2.10",
    "PYSEC-2021-7": "3.2.1",
    "PYSEC-2021-8": "3.2.2",
    "PYSEC-2021-98": "3.2.4",
    "PYSEC-2021-99": "3.2.4",
    "PYSEC-2022-1": "3.2.11",
    "PYSEC-2022-19": "3.2.12",
    "PYSEC-2022-190": "3.2.13",
    "PYSEC-2022-191": "3.2.13",
    "PYSEC-2022-2": "3.2.11",
    "PYSEC-2022-20": "3.2.12",
    "PYSEC-2022-213": "3.2.14",
    "PYSEC-2022-245": "3.2.15",
    "PYSEC-2022-3": "3.2.11",
    "PYSEC-2022-304": "3.2.16",
    "PYSEC-2023-100": "3.2.20",
    "PYSEC-2023-12": "3.2.17",
    "PYSEC-2023-13": "3.2.18",
    "PYSEC-2023-222": "3.2.23",
    "PYSEC-2023-225": "3.2.21",
    "PYSEC-2023-226": "3.2.22",
    "PYSEC-2023-61": "3.2.19",
    "PYSEC-2024-28": "3.2.24",
    "PYSEC-2024-47": "3.2.25",
}


def matched(*packages) -> dict[str, str]:
    return {f.vulnerability: f.fixed_version for f in match_sbom(make_sbom(packages=packages))}


def test_django_320_has_exactly_these_advisories(load):
    load("pypi.osv.jsonl")
    assert len(DJANGO_32) == 25
    assert matched(pkg("django", "3.2.0", "pypi")) == DJANGO_32
    # PEP 503: the distribution name "Django" is the same project.
    assert matched(pkg("Django", "3.2", "pypi")) == DJANGO_32


def test_pep440_pre_release_is_before_its_release(load):
    # 3.2rc1 < 3.2, so no `introduced: 3.2` range holds it and it is above every 3.1.x fix;
    # only PYSEC-2023-61 lists "3.2rc1" in its explicit `versions`.
    load("pypi.osv.jsonl")
    assert matched(pkg("django", "3.2rc1", "pypi")) == {"PYSEC-2023-61": "3.2.19"}


def test_fixed_release_has_no_findings_for_that_line(load):
    load("pypi.osv.jsonl")
    # 3.2.25 is the last fix of the 3.2 line in this data (PYSEC-2024-47).
    assert matched(pkg("django", "3.2.25", "pypi")) == {}


def test_lodash_41715(load):
    # lodash records: p6mc (<4.17.20), 35jh (<4.17.21), 29mw (<4.17.21), 4xc9 (<4.17.11),
    # fvqr (<4.17.5), x5rq (<4.17.11), jf85 (<4.17.12).
    load("npm.osv.jsonl")
    assert matched(pkg("lodash", "4.17.15", "npm")) == {
        "GHSA-p6mc-m468-83gw": "4.17.20",
        "GHSA-35jh-r3h4-6jhm": "4.17.21",
        "GHSA-29mw-wpgm-hmr9": "4.17.21",
    }


def test_last_affected_is_inclusive(load):
    # GHSA-29mw-wpgm-hmr9: lodash.trim introduced 0, last_affected 4.5.1 (no fix known).
    load("npm.osv.jsonl")
    assert matched(pkg("lodash.trim", "4.5.1", "npm")) == {"GHSA-29mw-wpgm-hmr9": ""}
    assert matched(pkg("lodash.trim", "4.5.2", "npm")) == {}


def test_open_ended_range_and_semver_pre_releases(load):
    # express: rv95 [0,4.19.2) + [5.0.0-alpha.1,5.0.0-beta.3); qw6h [0,4.20.0) +
    # [5.0.0-alpha.1,5.0.0); jj78 introduced 3.4.5 with no fix (open-ended).
    load("npm.osv.jsonl")
    assert matched(pkg("express", "5.0.0-beta.1", "npm")) == {
        "GHSA-rv95-896h-c2vc": "5.0.0-beta.3",
        "GHSA-qw6h-vgh9-j6wx": "5.0.0",
        "GHSA-jj78-5fmv-mv28": "",
    }
    assert matched(pkg("express", "5.0.0-beta.3", "npm")) == {
        "GHSA-qw6h-vgh9-j6wx": "5.0.0",
        "GHSA-jj78-5fmv-mv28": "",
    }
    assert matched(pkg("express", "5.0.0", "npm")) == {"GHSA-jj78-5fmv-mv28": ""}
    assert matched(pkg("express", "3.4.4", "npm")) == {
        "GHSA-rv95-896h-c2vc": "4.19.2",
        "GHSA-qw6h-vgh9-j6wx": "4.20.0",
    }


def test_npm_names_compare_case_insensitively(load):
    # GHSA-8hc4-vh64-cxmj names the package "Axios" ([1.3.2, 1.7.4)); the package is "axios".
    # GHSA-wf5p-g6vw-rhxx: axios [0.8.1, 1.6.0) does not hold 1.7.2.
    load("npm.osv.jsonl")
    assert matched(pkg("axios", "1.7.2", "npm")) == {"GHSA-8hc4-vh64-cxmj": "1.7.4"}


def test_overlapping_ranges(load):
    # GHSA-r683-j2x4-v87g (node-fetch): [1.0, 3.1.1) and [0, 2.6.7). Read as OSV (a union),
    # 2.6.7 is still inside [1.0, 3.1.1), so the first version outside both is 3.1.1.
    # GHSA-w7rc-rwvf-8q5r: [0, 2.6.1) and [3.0.0-beta.1, 3.0.0-beta.9).
    load("npm.more.osv.jsonl")
    assert matched(pkg("node-fetch", "2.6.5", "npm")) == {"GHSA-r683-j2x4-v87g": "3.1.1"}
    assert matched(pkg("node-fetch", "2.6.7", "npm")) == {"GHSA-r683-j2x4-v87g": "3.1.1"}
    assert matched(pkg("node-fetch", "2.6.0", "npm")) == {
        "GHSA-r683-j2x4-v87g": "3.1.1",
        "GHSA-w7rc-rwvf-8q5r": "2.6.1",
    }
    assert matched(pkg("node-fetch", "3.1.1", "npm")) == {}


def test_two_affected_entries_for_one_npm_package(load):
    # GHSA-xvch-5gv4-984h: minimist [1.0.0, 1.2.6) and [0, 0.2.4).
    load("npm.osv.jsonl")
    assert matched(pkg("minimist", "1.2.5", "npm")) == {"GHSA-xvch-5gv4-984h": "1.2.6"}
    assert matched(pkg("minimist", "0.2.3", "npm")) == {"GHSA-xvch-5gv4-984h": "0.2.4"}
    assert matched(pkg("minimist", "0.2.4", "npm")) == {}


def test_other_ecosystems_of_a_record_do_not_match(load):
    # GHSA-8hfj-j24r-96c4 and GHSA-wc69-rhjr-hc9g also list NuGet "Moment.js".
    load("npm.more.osv.jsonl")
    assert matched(pkg("moment", "2.29.1", "npm")) == {
        "GHSA-8hfj-j24r-96c4": "2.29.2",
        "GHSA-wc69-rhjr-hc9g": "2.29.4",
    }
    assert matched(pkg("Moment.js", "2.29.1", "npm")) == {}


def test_go_module_semver_ranges(load):
    # golang.org/x/net records fixed above 0.33.0: GO-2025-3503 (0.36.0), GO-2025-3595
    # (0.38.0), GO-2026-4440/4441 (0.45.0), GO-2026-4918 (0.53.0), GO-2026-5025..5030 (0.55.0),
    # GO-2026-5942 (0.56.0). GO-2026-4559 is [0.50.0, 0.51.0); the others are fixed earlier.
    load("go.osv.jsonl")
    found = matched(pkg("golang.org/x/net", "v0.33.0", "golang"))
    assert found == {
        "GO-2025-3503": "0.36.0",
        "GO-2025-3595": "0.38.0",
        "GO-2026-4440": "0.45.0",
        "GO-2026-4441": "0.45.0",
        "GO-2026-4918": "0.53.0",
        "GO-2026-5025": "0.55.0",
        "GO-2026-5026": "0.55.0",
        "GO-2026-5027": "0.55.0",
        "GO-2026-5028": "0.55.0",
        "GO-2026-5029": "0.55.0",
        "GO-2026-5030": "0.55.0",
        "GO-2026-5942": "0.56.0",
    }
    assert "GO-2026-4559" in matched(pkg("golang.org/x/net", "v0.50.0", "golang"))


def test_severity_from_cvss_else_rating_else_unknown(load):
    load("npm.osv.jsonl", "pypi.osv.jsonl")
    sbom = make_sbom(
        packages=[
            pkg("express", "4.17.1", "npm"),
            pkg("lodash", "4.17.4", "npm"),
            pkg("django", "3.2.0", "pypi"),
        ]
    )
    by_id = {f.vulnerability: f for f in match_sbom(sbom)}
    # GHSA-qw6h-vgh9-j6wx has CVSS 3.1 AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:L (5.0) and a v4
    # vector; v3 is preferred. GHSA-4xc9-xhrj-v574 has no vector: database_specific HIGH.
    # GHSA-x5rq-j2xg-h7qm: rating "moderate" (lowercase). PyPA records carry no severity.
    assert (by_id["GHSA-qw6h-vgh9-j6wx"].severity, by_id["GHSA-qw6h-vgh9-j6wx"].cvss_score) == (
        "medium",
        5.0,
    )
    assert (by_id["GHSA-4xc9-xhrj-v574"].severity, by_id["GHSA-4xc9-xhrj-v574"].cvss_score) == (
        "high",
        None,
    )
    assert by_id["GHSA-x5rq-j2xg-h7qm"].severity == "medium"
    # GHSA-jf85-cpcp-j695: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:H = 9.1 critical.
    assert (by_id["GHSA-jf85-cpcp-j695"].severity, by_id["GHSA-jf85-cpcp-j695"].cvss_score) == (
        "critical",
        9.1,
    )
    assert by_id["PYSEC-2021-7"].severity == "unknown"


def test_finding_object_has_the_design_keys(load):
    load("npm.osv.jsonl")
    finding = match_sbom(make_sbom(packages=[pkg("axios", "1.7.2", "npm")]))[0]
    data = finding.as_dict("registry.example.com/app:1.0", "sha256:abc")
    for key in (
        "image",
        "digest",
        "package",
        "version",
        "ecosystem",
        "purl",
        "vulnerability",
        "aliases",
        "severity",
        "cvss_score",
        "fixed_version",
        "status",
        "kev",
        "epss",
    ):
        assert key in data
    assert data["image"] == "registry.example.com/app:1.0"
    assert data["vulnerability"] == "GHSA-8hc4-vh64-cxmj"
    assert data["aliases"] == ["CVE-2024-39338"]
    assert data["status"] == "open"
