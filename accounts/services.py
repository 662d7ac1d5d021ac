"""Organization set-up and the service user."""

from __future__ import annotations

import secrets
import string

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import CommandError
from django.db import transaction

from .models import Organization, OrgGroup, OrgRole, Profile

__all__ = [
    "SERVICE_USER_PREFIX",
    "add_to_org",
    "ensure_service_user",
    "get_or_create_org",
    "org_for_command",
]

SERVICE_USER_PREFIX = "cn-registry-service-"
_ALPHABET = string.ascii_lowercase + string.digits


def get_or_create_org(name: str) -> Organization:
    """Return the organization called ``name``, creating it with its groups when missing."""
    org, _ = Organization.objects.get_or_create(name=name)
    return org


def add_to_org(user: AbstractBaseUser, org: Organization, role: str = OrgRole.MEMBERS) -> None:
    """Put ``user`` in ``org``'s group ``role`` and make ``org`` current when it has none."""
    OrgGroup.objects.get(organization=org, name=role).users.add(user)
    profile, _ = Profile.objects.get_or_create(user=user)
    if profile.current_organization_id is None:
        profile.current_organization = org
        profile.save(update_fields=["current_organization"])


def ensure_service_user(org: Organization) -> AbstractBaseUser:
    """Return ``org``'s service user, creating ``cn-registry-service-<random>`` once.

    Race-safe: the organization row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
    IMMEDIATE transactions serialize writers), so concurrent callers get the same user, and
    ``Organization.service_user`` is a one-to-one column, so a second user can never be attached.
    The user has an unusable password and is a member of the organization's ``admins`` group.
    """
    User = get_user_model()
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=org.pk)
        if locked.service_user_id is not None:
            org.service_user_id = locked.service_user_id
            return locked.service_user
        suffix = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        user = User(username=SERVICE_USER_PREFIX + suffix, is_active=True)
        user.set_unusable_password()
        user.save()
        Profile.objects.update_or_create(
            user=user, defaults={"is_service_user": True, "current_organization": locked}
        )
        OrgGroup.objects.get(organization=locked, name=OrgRole.ADMINS).users.add(user)
        locked.service_user = user
        locked.save(update_fields=["service_user"])
    org.service_user = user
    return user


def org_for_command(name: str | None) -> Organization:
    """The organization a management command's ``--org`` names; without ``--org``, the only
    one there is. Raises CommandError (exit code 2, bad arguments) with what to do otherwise."""
    if name:
        org = Organization.objects.filter(name=name).first()
        if org is None:
            raise CommandError(f"No organization named {name!r}.", returncode=2)
        return org
    orgs = list(Organization.objects.order_by("name")[:2])
    if len(orgs) != 1:
        raise CommandError(
            "There are several organizations (or none: run bootstrap): give --org.", returncode=2
        )
    return orgs[0]
