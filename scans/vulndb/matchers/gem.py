"""RubyGems: gem names as published, RubyGems version ordering."""

from __future__ import annotations

from univers.versions import RubygemsVersion

from .base import Matcher


class GemMatcher(Matcher):
    name = "gem"
    package_ecosystems = ("gem",)
    osv_prefixes = ("RubyGems",)
    version_class = RubygemsVersion
