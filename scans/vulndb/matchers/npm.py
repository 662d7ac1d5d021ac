"""npm: semver ordering (pre-releases sort before their release).

Name case: npm names are lowercase for every package published since 2017, and advisories are
not always careful (GHSA-8hc4-vh64-cxmj names ``Axios`` for ``axios``). We compare names
case-insensitively. The trade-off: a legacy mixed-case package (``JSONStream``) would also
match an advisory for a lowercase name spelled the same, which the registry itself treats as
the same name for new publications; a missed advisory is worse than that rare false positive.
"""

from __future__ import annotations

from univers.versions import SemverVersion

from .base import Matcher


class NpmMatcher(Matcher):
    name = "npm"
    package_ecosystems = ("npm",)
    osv_prefixes = ("npm",)
    version_class = SemverVersion

    def normalize_name(self, name: str) -> str:
        return name.lower()
