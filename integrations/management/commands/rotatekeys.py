"""``manage.py rotatekeys``: re-encrypt every stored credential with the first key of
``REGSCAN_ENCRYPTION_KEYS``.

Rotation: put a new key first in the list (keep the old ones after it), run this command, then
remove the old keys. Exit 3 when a stored credential can't be decrypted with any listed key.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from integrations.crypto import KeyConfigError, reencrypt
from integrations.models import Registry


class Command(BaseCommand):
    help = "Re-encrypt stored registry credentials with the first encryption key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="One JSON document on stdout")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            done, failed = self._rotate()
        except KeyConfigError as exc:  # a malformed key: nothing was changed
            raise CommandError(str(exc), returncode=2) from None
        if opts["json"] or opts["format"] == "json":
            self.stdout.write(json.dumps({"reencrypted": done, "undecryptable": failed}))
        self.stderr.write(f"Re-encrypted {done} credential(s) with the first key.")
        if failed:
            raise CommandError(
                "These integrations' credentials match none of REGSCAN_ENCRYPTION_KEYS: "
                + ", ".join(failed),
                returncode=3,
            )

    def _rotate(self) -> tuple[int, list[str]]:
        """Re-encrypt every stored credential; return (count, names no key can read)."""
        done, failed = 0, []
        with transaction.atomic():
            for registry in Registry.objects.exclude(secret_encrypted="").select_for_update():
                try:
                    token = reencrypt(registry.secret_encrypted)
                except InvalidToken:
                    failed.append(registry.name)
                    continue
                Registry.objects.filter(pk=registry.pk).update(secret_encrypted=token)
                done += 1
        return done, failed
