"""Vulnerability data (OSV records, KEV, EPSS) and findings."""

from __future__ import annotations
