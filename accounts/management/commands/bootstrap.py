"""Idempotent first-run set-up: an organization with its groups and an admin user."""

from __future__ import annotations

import json
import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from accounts.models import OrgRole
from accounts.services import add_to_org, get_or_create_org


class Command(BaseCommand):
    help = "Create the first organization and an admin user when missing (safe to run again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", default="default", help="organization name")
        parser.add_argument("--admin", default="admin", help="admin user name")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print a JSON summary"
        )

    def handle(self, *args, org: str, admin: str, as_json: bool = False, **opts) -> None:
        organization = get_or_create_org(org)
        User = get_user_model()
        user = User.objects.filter(username=admin).first()
        password = None
        created = user is None
        if created:
            password = os.environ.get("REGSCAN_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=admin, email="", password=password)
        add_to_org(user, organization, OrgRole.ADMINS)
        summary = {"organization": organization.name, "admin": admin, "created_admin": created}
        if as_json:
            self.stdout.write(json.dumps(summary))
        if created and not os.environ.get("REGSCAN_ADMIN_PASSWORD"):
            # Printed once, on creation only: it is stored nowhere else in clear.
            self.stderr.write(f"Created admin user {admin!r} with password: {password}")
        elif created:
            self.stderr.write(
                f"Created admin user {admin!r} (password from REGSCAN_ADMIN_PASSWORD)."
            )
        else:
            self.stderr.write(f"Organization {organization.name!r} and admin {admin!r} are ready.")
