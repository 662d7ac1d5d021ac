"""PyPI: PEP 503 name normalisation and PEP 440 version ordering."""

from __future__ import annotations

import re

from univers.versions import PypiVersion

from .base import Matcher

_SEPARATORS = re.compile(r"[-_.]+")


class PypiMatcher(Matcher):
    name = "pypi"
    package_ecosystems = ("pypi",)
    osv_prefixes = ("PyPI",)
    version_class = PypiVersion

    def normalize_name(self, name: str) -> str:
        # PEP 503: "Django", "zope.interface", "PyYAML" compare case- and separator-blind.
        return _SEPARATORS.sub("-", name).lower()
