"""Forms of the integration wizard: Details, Credentials, Configuration.

Each provider declares its fields (``Provider.credential_fields``); the Details and Credentials
forms are built from those declarations, so a new provider needs no form code. Secret fields are
write-only: they render empty (``render_value=False``) and a blank value keeps the stored one.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms

from integrations.models import Registry
from integrations.providers.base import CredentialField, Provider

__all__ = [
    "LIST_FIELDS",
    "ConfigurationForm",
    "CredentialsForm",
    "DetailsForm",
    "compose_schedule",
    "decompose_schedule",
    "split_lines",
]

# Provider fields that identify who connects (the Credentials step); the rest describe where.
IDENTITY_FIELDS = frozenset({"username", "client_id", "role_arn", "external_id", "tenant_id"})
# Registry fields held as lists (entered one per line or comma separated).
LIST_FIELDS = frozenset(
    {"namespaces", "repositories", "include_repos", "exclude_repos", "include_tags", "exclude_tags"}
)
WEEKDAYS = [
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
]


def split_lines(text: str) -> list[str]:
    """``"a, b\\nc"`` -> ``["a", "b", "c"]`` (blank entries dropped, order kept)."""
    return [part.strip() for part in re.split(r"[,\n]", text or "") if part.strip()]


def _field_for(spec: CredentialField, *, has_secret: bool) -> forms.Field:
    if spec.secret:
        keep = " Leave blank to keep the saved value." if has_secret else ""
        return forms.CharField(
            label=spec.label,
            required=spec.required and not has_secret,
            strip=False,
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
            help_text=(spec.help_text + keep).strip(),
        )
    if spec.name in LIST_FIELDS:
        return forms.CharField(
            label=spec.label,
            required=spec.required,
            widget=forms.Textarea(attrs={"rows": 2}),
            help_text=(spec.help_text + " One per line or comma separated.").strip(),
        )
    return forms.CharField(label=spec.label, required=spec.required, help_text=spec.help_text)


class DetailsForm(forms.Form):
    """Name plus the provider's where-to-connect fields and the TLS options."""

    name = forms.CharField(max_length=100, help_text="How this integration is shown in regscan.")

    def __init__(
        self,
        *args: Any,
        provider: type[Provider],
        org: Any,
        instance_pk: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.org, self.instance_pk = org, instance_pk
        for spec in provider.credential_fields:
            if not spec.secret and spec.name not in IDENTITY_FIELDS:
                self.fields[spec.name] = _field_for(spec, has_secret=False)
        self.fields["ca_bundle"] = forms.CharField(
            label="CA bundle (PEM)",
            required=False,
            widget=forms.Textarea(attrs={"rows": 3, "placeholder": "-----BEGIN CERTIFICATE-----"}),
            help_text="Certificates to trust for a registry with a private certificate authority.",
        )
        self.fields["insecure"] = forms.BooleanField(
            label="Skip TLS verification (lab registries only)", required=False
        )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        taken = Registry.objects.filter(organization=self.org, name=name)
        if self.instance_pk:
            taken = taken.exclude(pk=self.instance_pk)
        if taken.exists():
            raise forms.ValidationError("An integration with this name already exists.")
        return name


class CredentialsForm(forms.Form):
    """Who connects: user names, roles and the write-only secret fields."""

    def __init__(
        self, *args: Any, provider: type[Provider], has_secret: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        for spec in provider.credential_fields:
            if spec.secret or spec.name in IDENTITY_FIELDS:
                self.fields[spec.name] = _field_for(spec, has_secret=has_secret)


def compose_schedule(data: dict[str, Any]) -> str:
    """The schedule text (``"daily 02:00"`` ...) from the Configuration form's parts."""
    kind = data.get("schedule_kind")
    at = data.get("at_time")
    hhmm = at.strftime("%H:%M") if at else "02:00"
    if kind == "every":
        return f"every {data.get('every_hours') or 6}h"
    if kind == "daily":
        return f"daily {hhmm}"
    if kind == "weekly":
        return f"weekly {data.get('weekday') or 'mon'} {hhmm}"
    if kind == "cron":
        return f'cron "{(data.get("cron") or "").strip()}"'
    return "off"


def decompose_schedule(spec: str) -> dict[str, Any]:
    """Initial values of the Configuration form for a stored schedule text.

    Unparseable text comes back as a custom cron value so the person sees and fixes it.
    """
    from scans.schedules import DAYS, parse_schedule

    try:
        parsed = parse_schedule(spec)
    except ValueError:
        return {"schedule_kind": "cron", "cron": spec}
    out: dict[str, Any] = {"schedule_kind": parsed.kind}
    if parsed.kind == "every":
        out["every_hours"] = parsed.hours
    if parsed.kind in ("daily", "weekly"):
        out["at_time"] = f"{parsed.hour:02d}:{parsed.minute:02d}"
    if parsed.kind == "weekly":
        out["weekday"] = DAYS[parsed.weekday]
    if parsed.kind == "cron":
        out["cron"] = parsed.cron
    return out


class ConfigurationForm(forms.Form):
    """Schedule and pull settings. ``cleaned_data["schedule"]`` holds the composed text."""

    schedule_kind = forms.ChoiceField(
        label="Scan schedule",
        choices=[
            ("every", "Every N hours"),
            ("daily", "Daily"),
            ("weekly", "Weekly"),
            ("cron", "Custom (cron)"),
            ("off", "Off (Scan Now only)"),
        ],
        initial="daily",
    )
    every_hours = forms.IntegerField(
        label="Every", min_value=1, max_value=744, initial=6, required=False
    )
    weekday = forms.ChoiceField(choices=WEEKDAYS, initial="mon", required=False)
    at_time = forms.TimeField(
        label="At", initial="02:00", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    cron = forms.CharField(
        label="Cron expression", required=False, help_text="Five fields, e.g. 0 2 * * *"
    )
    max_tags = forms.IntegerField(
        label="Tags per repository",
        min_value=1,
        max_value=1000,
        initial=10,
        help_text="Scan the N most recently pushed tags of every repository.",
    )
    max_age_days = forms.IntegerField(
        label="Maximum tag age (days)",
        min_value=1,
        required=False,
        help_text="Skip tags pushed longer ago than this. Empty: no limit.",
    )
    include_repos = forms.CharField(
        label="Include repositories",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Globs such as team-a/*. Empty: every repository.",
    )
    exclude_repos = forms.CharField(
        label="Exclude repositories", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    include_tags = forms.CharField(
        label="Include tags",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Globs such as v*. Empty: every tag.",
    )
    exclude_tags = forms.CharField(
        label="Exclude tags",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Globs such as *-debug, sha-*.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("schedule_kind") == "cron" and not (data.get("cron") or "").strip():
            self.add_error("cron", "Enter a cron expression, or choose another schedule.")
            return data
        spec = compose_schedule(data)
        from scans.schedules import parse_schedule

        try:
            parse_schedule(spec)
        except ValueError as exc:
            self.add_error("schedule_kind", str(exc))
        data["schedule"] = spec
        return data

    def registry_fields(self) -> dict[str, Any]:
        """The Registry field values this form sets (lists split, schedule composed)."""
        data = self.cleaned_data
        out: dict[str, Any] = {
            "schedule": data["schedule"],
            "max_tags": data["max_tags"],
            "max_age_days": data.get("max_age_days"),
        }
        for name in ("include_repos", "exclude_repos", "include_tags", "exclude_tags"):
            out[name] = split_lines(data.get(name, ""))
        return out
