"""Builders for layer tarballs from real content (owned by the scan-engine work)."""
