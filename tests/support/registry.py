"""Fixtures for a real CNCF distribution registry on 127.0.0.1 (owned by the registry-access work)."""
