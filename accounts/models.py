"""Organizations, their two groups (admins, members), and per-user settings.

Every object a user sees belongs to one organization; :mod:`accounts.scoping` is the one place
that narrows querysets to the current organization.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"Unknown time zone {value!r} (use an IANA name like Europe/Berlin).")


class OrgRole(models.TextChoices):
    ADMINS = "admins", "Admins (manage integrations and scans)"
    MEMBERS = "members", "Members (read only)"


class Organization(models.Model):
    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="Schedules such as 'daily 02:00' are read in this time zone.",
    )
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="service_user_of",
        help_text="Actor of automatic and scheduled scans; created when the first "
        "integration is activated.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        creating = self.pk is None
        super().save(*args, **kwargs)
        if creating:
            for role in OrgRole.values:
                OrgGroup.objects.get_or_create(organization=self, name=role)

    def group(self, role: str) -> OrgGroup:
        return self.groups.get(name=role)


class OrgGroup(models.Model):
    """One of an organization's two groups; membership decides what a user may do there."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=20, choices=OrgRole.choices)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="org_groups")

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="one_group_per_role")
        ]
        verbose_name = "organization group"

    def __str__(self) -> str:
        return f"{self.organization.name} / {self.name}"


class Profile(models.Model):
    """Per-user state: the current organization and whether this is a service user."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    is_service_user = models.BooleanField(
        default=False,
        editable=False,
        help_text="Created by regscan to run automatic scans; cannot log in with a password.",
    )
    current_organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="Times on pages are shown in this zone (default: the organization's).",
    )

    def __str__(self) -> str:
        return f"profile of {self.user}"
