"""Maven: ``group:artifact`` names, Maven version ordering."""

from __future__ import annotations

from univers.versions import MavenVersion

from .base import Matcher, PackageRef


class MavenMatcher(Matcher):
    name = "maven"
    package_ecosystems = ("maven",)
    osv_prefixes = ("Maven",)
    version_class = MavenVersion

    def query_names(self, package: PackageRef) -> list[str]:
        # Analyzers may report "group:artifact" or "group/artifact" (the purl spelling).
        return [package.name.replace("/", ":")]
