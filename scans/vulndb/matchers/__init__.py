"""MATCHERS registry: one matcher per ecosystem family (STYLE.md section 4).

Adding an ecosystem is one module shaped like its siblings plus one line here.
"""

from __future__ import annotations

from .apk import ApkMatcher
from .base import AffectedData, Distro, Matcher, PackageRef
from .cargo import CargoMatcher
from .dpkg import DpkgMatcher
from .gem import GemMatcher
from .golang import GoMatcher
from .maven import MavenMatcher
from .npm import NpmMatcher
from .pypi import PypiMatcher
from .rpm import RpmMatcher

__all__ = [
    "MATCHERS",
    "AffectedData",
    "Distro",
    "Matcher",
    "PackageRef",
    "matcher_for_osv_ecosystem",
    "matcher_for_package",
]

MATCHERS: list[Matcher] = [
    DpkgMatcher(),
    ApkMatcher(),
    RpmMatcher(),
    PypiMatcher(),
    NpmMatcher(),
    GoMatcher(),
    MavenMatcher(),
    CargoMatcher(),
    GemMatcher(),
]
_BY_PACKAGE_ECOSYSTEM = {eco: m for m in MATCHERS for eco in m.package_ecosystems}


def matcher_for_package(ecosystem: str) -> Matcher | None:
    """The matcher for a Package.ecosystem value (purl type), or None when unsupported."""
    return _BY_PACKAGE_ECOSYSTEM.get(ecosystem)


def matcher_for_osv_ecosystem(ecosystem: str) -> Matcher | None:
    """The matcher whose advisories use this OSV ecosystem, or None (e.g. NuGet)."""
    for matcher in MATCHERS:
        for prefix in matcher.osv_prefixes:
            if ecosystem == prefix or (prefix.endswith(":") and ecosystem.startswith(prefix)):
                return matcher
    return None
