"""The matcher interface (claircore style) and the OSV range evaluation shared by all of them.

A matcher knows one family of package ecosystems: which SBOM packages it takes
(``interested_in``), which OSV ecosystems and names to look them up under, and how to order
versions. ``is_vulnerable`` evaluates OSV ``ranges`` (ECOSYSTEM and SEMVER; GIT is ignored) and
explicit ``versions`` as the OSV schema describes:

* events of one range are sorted by version (``introduced: "0"`` first); walking them,
  ``introduced <= v`` sets vulnerable, ``fixed <= v`` and ``last_affected < v`` clear it;
* ``limit`` events cap the range: a version is only affected below some limit;
* a package is affected when any range of any matching ``affected`` entry says so, or when its
  version is listed in ``versions``.

Unparseable bounds never make a package look clean: an unparseable ``introduced`` counts as
``"0"`` and an unparseable ``fixed``/``last_affected``/``limit`` is ignored (the range stays
open). An unparseable installed version is matched against ``versions`` only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from univers.versions import SemverVersion, Version

__all__ = ["AffectedData", "Distro", "Matcher", "PackageRef", "is_affected", "fix_candidates"]

_RANGE_TYPES = frozenset({"ECOSYSTEM", "SEMVER"})


@dataclass(frozen=True)
class Distro:
    """The operating system of an SBOM, from its os-release."""

    id: str = ""
    version: str = ""
    codename: str = ""


@dataclass(frozen=True)
class PackageRef:
    """What matching needs of one SBOM package (a row of scans.Package)."""

    name: str
    version: str
    ecosystem: str
    purl: str = ""
    source_name: str = ""
    source_version: str = ""

    @property
    def key(self) -> str:
        """The finding identity of this package: its purl, else ``ecosystem:name@version``."""
        return self.purl or f"{self.ecosystem}:{self.name}@{self.version}"


@dataclass(frozen=True)
class AffectedData:
    """One ``affected[]`` entry of a record, as stored in the ``Affected`` table."""

    vulnerability_id: int
    ecosystem: str
    name: str
    ranges: list[dict[str, Any]]
    versions: list[str]


class Matcher:
    """Base class: subclasses set the attributes and override what differs."""

    name = ""
    #: Package.ecosystem values (purl types) this matcher takes.
    package_ecosystems: tuple[str, ...] = ()
    #: OSV ecosystems (exact) or prefixes ending in ":" this matcher's advisories use.
    osv_prefixes: tuple[str, ...] = ()
    version_class: type[Version] = SemverVersion
    #: True for OS package managers: advisories are per distro release.
    is_distro = False

    def interested_in(self, package: PackageRef) -> bool:
        return package.ecosystem in self.package_ecosystems

    def osv_ecosystems(self, distro: Distro) -> list[str]:
        """OSV ecosystems to look packages up under; exact names or ``"Prefix:"`` patterns."""
        return list(self.osv_prefixes)

    def release_label(self, distro: Distro) -> str:
        """Human name of the data set, for "no vulnerability data for <label>"."""
        return self.name

    def normalize_name(self, name: str) -> str:
        return name

    def query_names(self, package: PackageRef) -> list[str]:
        return [self.normalize_name(package.name)]

    def installed_version(self, package: PackageRef) -> str:
        return package.version

    def parse(self, version: str, range_type: str = "ECOSYSTEM") -> Version | None:
        """Parse a version; None when the ecosystem's rules reject it."""
        cls = SemverVersion if range_type == "SEMVER" else self.version_class
        return _parse(cls, self.clean_version(version, range_type))

    def clean_version(self, version: str, range_type: str) -> str:
        return version

    def is_vulnerable(self, package: PackageRef, affected: AffectedData) -> bool:
        return is_affected(self, self.installed_version(package), affected)


@lru_cache(maxsize=200_000)
def _parse(cls: type[Version], text: str) -> Version | None:
    # Parsing costs 8-17 us; SBOMs repeat the same versions, advisories the same bounds.
    try:
        return cls(text)
    except Exception:  # univers raises several types (InvalidVersion, ValueError, TypeError)
        return None


_ZERO = re.compile(r"^v?0$")


def _range_affects(matcher: Matcher, v: Version, rng: dict[str, Any]) -> bool:
    rtype = rng.get("type", "ECOSYSTEM")
    events = tuple((k, str(x)) for e in rng.get("events", []) for k, x in list(e.items())[:1])
    points, limits = _compiled(matcher, rtype, events)
    if limits and not any(v < limit for limit in limits):
        return False
    vulnerable = False
    for parsed, kind in points:
        # Only < and > are used: univers' Alpine (Gentoo) versions define __lt__/__gt__ but
        # inherit a string-based __ge__/__le__ ("1.29.3-r9" >= "1.29.3-r10" is True there).
        if kind == "introduced" and (parsed is None or not v < parsed):
            vulnerable = True
        elif kind == "fixed" and not v < parsed:
            vulnerable = False
        elif kind == "last_affected" and v > parsed:
            vulnerable = False
    return vulnerable


@lru_cache(maxsize=100_000)
def _compiled(matcher: Matcher, rtype: str, events: tuple[tuple[str, str], ...]):
    """Parse and sort a range's events once: ``(points, limits)``, points ascending with
    ``introduced: "0"`` (parsed as None) first. Matchers are singletons, so caching on them
    is safe; the same range is evaluated for every SBOM holding the package."""
    points: list[tuple[Version | None, int, str]] = []
    limits: list[Version] = []
    for kind, raw in events:
        if kind == "introduced":
            parsed = None if _ZERO.match(raw) else matcher.parse(raw, rtype)
            points.append((parsed, 0, kind))
        elif kind in ("fixed", "last_affected"):
            parsed = matcher.parse(raw, rtype)
            if parsed is not None:
                points.append((parsed, 1, kind))
        elif kind == "limit" and raw != "*":
            parsed = matcher.parse(raw, rtype)
            if parsed is not None:
                limits.append(parsed)
    ordered = _sorted_events(points)
    return tuple((parsed, kind) for parsed, _order, kind in ordered), tuple(limits)


def _sorted_events(points: list[tuple[Version | None, int, str]]) -> list:
    zeros = [p for p in points if p[0] is None]
    rest = [p for p in points if p[0] is not None]
    try:
        rest.sort(key=lambda p: (p[0], p[1]))
    except TypeError:
        pass  # incomparable bounds: keep the record's own order, which is ascending in practice
    return zeros + rest


def _listed(matcher: Matcher, version: str, parsed: Version | None, listed: list[str]) -> bool:
    if not listed:
        return False
    if version in listed:
        return True
    if parsed is None:
        return False
    values = _parsed_values(matcher.version_class, tuple(listed))
    if values is not None:
        return parsed.value in values
    return any(matcher.parse(item) == parsed for item in listed)


@lru_cache(maxsize=20_000)
def _parsed_values(cls: type[Version], listed: tuple[str, ...]) -> frozenset | None:
    """The comparable values of a ``versions`` list ("3.2" and "3.2.0" are one PEP 440
    value), parsed once per list; None when the scheme's values are not hashable."""
    try:
        return frozenset(p.value for p in (_parse(cls, v) for v in listed) if p is not None)
    except TypeError:
        return None


def is_affected(matcher: Matcher, version: str, affected: AffectedData) -> bool:
    """True when ``version`` is affected by this ``affected`` entry (ranges or versions)."""
    parsed = matcher.parse(version)
    if parsed is not None:
        for rng in affected.ranges:
            if rng.get("type") not in _RANGE_TYPES:
                continue
            v = parsed if rng.get("type") == "ECOSYSTEM" else matcher.parse(version, "SEMVER")
            if v is not None and _range_affects(matcher, v, rng):
                return True
    return _listed(matcher, version, parsed, affected.versions)


def fix_candidates(matcher: Matcher, version: str, entries: list[AffectedData]) -> list[str]:
    """``fixed`` versions above ``version`` in these entries, smallest first."""
    installed = matcher.parse(version)
    found: list[tuple[Version, str]] = []
    for entry in entries:
        for rng in entry.ranges:
            if rng.get("type") not in _RANGE_TYPES:
                continue
            for event in rng.get("events", []):
                fixed = event.get("fixed")
                parsed = matcher.parse(fixed, rng["type"]) if fixed else None
                if parsed is not None and (installed is None or parsed > installed):
                    found.append((parsed, fixed))
    try:
        found.sort(key=lambda item: item[0])
    except TypeError:
        pass
    seen: list[str] = []
    for _parsed, text in found:
        if text not in seen:
            seen.append(text)
    return seen
