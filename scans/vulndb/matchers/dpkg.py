"""Debian and Ubuntu (dpkg): advisories are keyed by **source** package and distro release.

Debian's tracker, osv.dev's Debian and Ubuntu records all name the source package
(``openssl``), not the binary (``libssl1.1``), and give fixed versions of that source package,
so the source version is what is compared (a binNMU binary ``+b1`` shares its source's version).
"""

from __future__ import annotations

from univers.versions import DebianVersion

from .base import Distro, Matcher, PackageRef

# Releases whose os-release has no VERSION_ID (testing, sid) or older images that only name
# the codename.
DEBIAN_CODENAMES = {
    "lenny": "5",
    "squeeze": "6",
    "wheezy": "7",
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
}


class DpkgMatcher(Matcher):
    name = "dpkg"
    package_ecosystems = ("deb",)
    osv_prefixes = ("Debian:", "Ubuntu:")
    version_class = DebianVersion
    is_distro = True

    def osv_ecosystems(self, distro: Distro) -> list[str]:
        release = self._release(distro)
        if not release:
            return []
        if distro.id == "ubuntu":
            # osv.dev spells Ubuntu releases "Ubuntu:22.04:LTS" (and Pro variants).
            return [f"Ubuntu:{release}", f"Ubuntu:{release}:"]
        return [f"Debian:{release}"]

    def release_label(self, distro: Distro) -> str:
        name = "Ubuntu" if distro.id == "ubuntu" else "Debian"
        return f"{name} {self._release(distro) or distro.version or distro.codename or '?'}"

    def _release(self, distro: Distro) -> str:
        if distro.id == "ubuntu":
            return distro.version
        if distro.id not in ("debian", ""):
            # Derivatives (e.g. raspbian) use Debian's releases only by their codename.
            return DEBIAN_CODENAMES.get(distro.codename, "")
        version = distro.version or DEBIAN_CODENAMES.get(distro.codename, "")
        major, _, minor = version.partition(".")
        # Debian 3.0, 3.1 and 4.0 kept the minor number in their names; later ones did not.
        return version if major.isdigit() and int(major) < 5 else major

    def query_names(self, package: PackageRef) -> list[str]:
        return [package.source_name or package.name]

    def installed_version(self, package: PackageRef) -> str:
        return package.source_version or package.version
