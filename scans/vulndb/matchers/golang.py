"""Go modules: module paths as named, semver without the ``v`` prefix (OSV spells it so)."""

from __future__ import annotations

from univers.versions import SemverVersion

from .base import Matcher


class GoMatcher(Matcher):
    name = "go"
    package_ecosystems = ("golang", "go")
    osv_prefixes = ("Go",)
    version_class = SemverVersion

    def clean_version(self, version: str, range_type: str) -> str:
        # Module versions are "v1.2.3"; the Go toolchain ("stdlib") reports "go1.21.3".
        for prefix in ("go", "v"):
            if version.startswith(prefix) and version[len(prefix) : len(prefix) + 1].isdigit():
                return version[len(prefix) :]
        return version
