from __future__ import annotations

from io import StringIO

from django.core.management import call_command


def test_migrations_match_the_models(db):
    """The suite runs with --nomigrations for speed; this keeps the real migrations honest."""
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    assert "No changes detected" in out.getvalue()
