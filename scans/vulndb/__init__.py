"""Vulnerability data (OSV records, KEV, EPSS) and findings.

Public API: :mod:`scans.vulndb.api`. Layout: ``formats.py`` (format detection, readers),
``importers.py`` (bulk writes),
``matchers/`` (one module per ecosystem family: dpkg, apk, rpm, pypi, npm, golang, maven,
cargo, gem), ``matching.py`` (pure matching and alias groups), ``services.py`` (ORM glue:
sync, re-match), ``priority.py`` (triage priority, KEV/EPSS enrichment), ``severity.py``,
``tasks.py`` (django-q2).

Decisions, each documented where it is implemented:

* Alias groups (``matching.py``): records of one package whose ids/aliases overlap give one
  finding; the representative is an id that already has a finding, else one with a CVSS
  vector, else the smallest id. ``upstream`` (a DSA's CVEs) is not an alias.
* KEV/EPSS: a finding is "known exploited" when any CVE of its group (ids, aliases, a
  Debian record's ``upstream``) is in the KEV catalog; EPSS is the highest of those CVEs.
* npm names compare case-insensitively (``matchers/npm.py``); PyPI names per PEP 503;
  crates.io treats ``-`` and ``_`` alike; Debian/Ubuntu match the source package, Alpine the
  origin; rpm both the binary and the source name.
* Severity (``severity.py``): CVSS v3, then v4, then v2 vectors scored by ``cvss``; else the
  record's rating (``database_specific.severity``...); else "unknown".
* Fixed version: the smallest ``fixed`` above the installed version that the record does not
  itself list as affected (overlapping ranges), else the smallest ``fixed`` above it.
* Coverage: a distro release with no records at all is reported ("no vulnerability data for
  Debian 13") in ``coverage_warnings``, never as clean.
* Priority (``services.priority_of``): severity, KEV, EPSS, running in a cluster, fix
  available, images and ``latest`` tags affected; the components are stored per finding.
"""

from __future__ import annotations
