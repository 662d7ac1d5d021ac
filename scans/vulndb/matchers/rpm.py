"""Red Hat, Rocky Linux and AlmaLinux (rpm), as far as osv.dev publishes them.

osv.dev names these ``Red Hat:enterprise_linux:9::appstream``-style (one ecosystem per
repository), ``Rocky Linux:9`` and ``AlmaLinux:9``. Their records name binary packages in some
feeds and source RPMs in others, so both names are looked up. Versions compare as
``epoch:version-release``.
"""

from __future__ import annotations

from univers.versions import RpmVersion

from .base import Distro, Matcher, PackageRef

_ECOSYSTEMS = {
    "rhel": "Red Hat:enterprise_linux:{major}:",
    "rocky": "Rocky Linux:{major}",
    "almalinux": "AlmaLinux:{major}",
}
_LABELS = {"rhel": "Red Hat Enterprise Linux", "rocky": "Rocky Linux", "almalinux": "AlmaLinux"}


class RpmMatcher(Matcher):
    name = "rpm"
    package_ecosystems = ("rpm",)
    osv_prefixes = ("Red Hat:", "Rocky Linux:", "AlmaLinux:")
    version_class = RpmVersion
    is_distro = True

    def osv_ecosystems(self, distro: Distro) -> list[str]:
        pattern = _ECOSYSTEMS.get(distro.id)
        major = distro.version.split(".")[0]
        return [pattern.format(major=major)] if pattern and major else []

    def release_label(self, distro: Distro) -> str:
        label = _LABELS.get(distro.id, distro.id or "unknown rpm distribution")
        return f"{label} {distro.version.split('.')[0]}".strip()

    def query_names(self, package: PackageRef) -> list[str]:
        names = [package.name]
        if package.source_name and package.source_name != package.name:
            names.append(package.source_name)
        return names
