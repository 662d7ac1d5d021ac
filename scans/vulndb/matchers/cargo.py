"""crates.io: crate names (``-`` and ``_`` are the same crate), semver ordering."""

from __future__ import annotations

from univers.versions import SemverVersion

from .base import Matcher


class CargoMatcher(Matcher):
    name = "cargo"
    package_ecosystems = ("cargo",)
    osv_prefixes = ("crates.io",)
    version_class = SemverVersion

    def normalize_name(self, name: str) -> str:
        return name.replace("_", "-").lower()
