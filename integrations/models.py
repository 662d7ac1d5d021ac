"""A Registry is one connected registry (an "integration") of an organization.

Credentials are stored encrypted (:mod:`integrations.crypto`) and only ever leave this model as
:class:`~integrations.crypto.Secret` objects inside a provider's configuration.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Organization

from .crypto import Secret, decrypt, encrypt
from .providers import PROVIDER_CHOICES


class RegistryAccess(models.TextChoices):
    PRIVATE = "private", "Private"
    PUBLIC_MANUAL = "public_manual", "Public/Manual"
    SYSTEM_MANAGED = "system_managed", "System-managed"


class Registry(models.Model):
    org_lookup = "organization"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="registries"
    )
    name = models.CharField(max_length=100)
    provider = models.CharField(max_length=20, choices=PROVIDER_CHOICES)
    access = models.CharField(
        "registry access",
        max_length=20,
        choices=RegistryAccess.choices,
        default=RegistryAccess.PRIVATE,
        help_text="Private: created as an integration. Public/Manual: seen in a single-image "
        "scan. System-managed: found in a Kubernetes workload list.",
    )
    # --- Where and how to connect (which fields apply depends on the provider) ---
    url = models.CharField(
        "registry URL",
        max_length=500,
        blank=True,
        help_text="Registry host or base URL, e.g. https://registry.example.com",
    )
    region = models.CharField(max_length=50, blank=True, help_text="AWS region (ECR)")
    registry_id = models.CharField(
        max_length=50, blank=True, help_text="AWS account id of the registry (ECR)"
    )
    role_arn = models.CharField(max_length=300, blank=True, help_text="IAM role to assume (ECR)")
    external_id = models.CharField(max_length=300, blank=True)
    tenant_id = models.CharField(max_length=100, blank=True, help_text="Azure tenant (ACR)")
    client_id = models.CharField(max_length=100, blank=True, help_text="Azure client id (ACR)")
    username = models.CharField(max_length=200, blank=True)
    secret_encrypted = models.TextField(
        blank=True, editable=False, help_text="Password, token or client secret, encrypted."
    )
    namespaces = models.JSONField(default=list, blank=True, help_text="Docker Hub namespaces")
    repositories = models.JSONField(
        default=list,
        blank=True,
        help_text="Explicit repositories (for registries without a catalog) or Artifactory "
        "Docker repository keys.",
    )
    api_endpoint = models.CharField(
        max_length=500,
        blank=True,
        help_text="Override of the provider's API endpoint (private endpoints, tests).",
    )
    registry_endpoint = models.CharField(
        max_length=500,
        blank=True,
        help_text="Override of the registry (pull) endpoint (private endpoints, tests).",
    )
    ca_bundle = models.TextField(
        "CA bundle", blank=True, help_text="PEM certificates trusted for this registry."
    )
    insecure = models.BooleanField(
        default=False, help_text="Skip TLS verification (lab registries only)."
    )
    # --- Schedule and pull settings ---
    schedule = models.CharField(
        max_length=100,
        default="daily 02:00",
        help_text='every 6h, daily 02:00, weekly mon 02:00, cron "0 2 * * *", or off',
    )
    max_tags = models.PositiveIntegerField(
        default=10, help_text="Scan the N most recently pushed tags of each repository."
    )
    include_repos = models.JSONField(default=list, blank=True)
    exclude_repos = models.JSONField(default=list, blank=True)
    include_tags = models.JSONField(default=list, blank=True)
    exclude_tags = models.JSONField(default=list, blank=True)
    max_age_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Skip tags pushed longer ago than this."
    )
    # --- State ---
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    discovered_via = models.CharField(
        max_length=200, blank=True, help_text="How a non-private registry was found."
    )
    last_seen_at = models.DateTimeField(null=True, blank=True)
    provider_state = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="Provider facts kept between scans (e.g. Docker Hub pull quota).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "registries"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="registry_name_per_org")
        ]

    def __str__(self) -> str:
        return self.name

    # Secrets are write-only: set_secret() stores, secret() returns a Secret for providers.
    def set_secret(self, value: str) -> None:
        self.secret_encrypted = encrypt(value)

    def secret(self) -> Secret:
        return decrypt(self.secret_encrypted)

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)
