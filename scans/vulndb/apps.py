from __future__ import annotations

from django.apps import AppConfig


class VulndbConfig(AppConfig):
    name = "scans.vulndb"
    label = "vulndb"
    verbose_name = "Vulnerability data and findings"
