"""Admin for integrations. The secret is write-only: a password field that replaces the stored
secret when filled and keeps it when left blank; it is never rendered back."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from .models import Registry


class RegistryAdminForm(forms.ModelForm):
    new_secret = forms.CharField(
        label="Secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Password, token or client secret. Leave blank to keep the stored one.",
    )

    class Meta:
        model = Registry
        fields = [  # secret_encrypted is editable=False: never a form field
            f.name for f in Registry._meta.fields if f.editable and f.name != "id"
        ]


@admin.register(Registry)
class RegistryAdmin(admin.ModelAdmin):
    form = RegistryAdminForm
    list_display = ("name", "organization", "provider", "access", "schedule", "enabled")
    list_filter = ("provider", "access", "enabled", "organization")
    list_select_related = ("organization",)
    search_fields = ("name", "url")
    readonly_fields = ("created_by", "created_at", "updated_at", "has_secret")

    def save_model(self, request: HttpRequest, obj: Registry, form, change: bool) -> None:
        from scans.schedules import sync_schedule

        if form.cleaned_data.get("new_secret"):
            obj.set_secret(form.cleaned_data["new_secret"])
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        sync_schedule(obj)
