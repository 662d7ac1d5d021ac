"""Alpine (apk): advisories are keyed by **origin** package and ``Alpine:v<major>.<minor>``."""

from __future__ import annotations

from univers.versions import AlpineLinuxVersion

from .base import Distro, Matcher, PackageRef


class ApkMatcher(Matcher):
    name = "apk"
    package_ecosystems = ("apk",)
    osv_prefixes = ("Alpine:",)
    version_class = AlpineLinuxVersion
    is_distro = True

    def osv_ecosystems(self, distro: Distro) -> list[str]:
        release = self._release(distro)
        return [f"Alpine:v{release}"] if release else []

    def release_label(self, distro: Distro) -> str:
        return f"Alpine {self._release(distro) or distro.version or '?'}"

    def _release(self, distro: Distro) -> str:
        # VERSION_ID "3.19.1" -> "3.19"; edge builds ("3.20.0_alpha2024...") keep major.minor.
        parts = distro.version.split(".")
        return ".".join(parts[:2]) if len(parts) >= 2 and parts[0].isdigit() else ""

    def query_names(self, package: PackageRef) -> list[str]:
        return [package.source_name or package.name]
