"""Every registered admin's changelist, add and change pages render for a superuser."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.services import ensure_service_user

MODELS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.fixture
def admin_client(client, org):
    user = get_user_model().objects.create_superuser("root", "", "pw-root-secret")
    client.force_login(user)
    ensure_service_user(org)  # so user pages include a service user
    return client


@pytest.mark.parametrize("model", [m for m, _ in MODELS], ids=lambda m: m._meta.label)
def test_changelist_and_add_render(admin_client, model):
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert admin_client.get(url).status_code == 200
    model_admin = admin.site._registry[model]
    if model_admin.has_add_permission(
        type(
            "R", (), {"user": get_user_model()(is_superuser=True, is_active=True, is_staff=True)}
        )()
    ):
        add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        assert admin_client.get(add).status_code == 200


def test_change_pages_render_for_existing_rows(admin_client, org):
    checked = []
    for model, _ in MODELS:
        obj = model._default_manager.first()
        if obj is None:
            continue
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        assert admin_client.get(url).status_code == 200, url
        checked.append(opts.label)
    assert {"accounts.Organization", "accounts.OrgGroup", "auth.User"} <= set(checked)


def test_service_users_are_flagged_and_filterable(admin_client, org):
    service = ensure_service_user(org)
    url = reverse("admin:auth_user_changelist")
    response = admin_client.get(url, {"service_user": "yes"})
    assert response.status_code == 200
    assert service.username in response.content.decode()
    assert "root" not in [u.username for u in response.context["cl"].result_list]
    change = admin_client.get(reverse("admin:auth_user_change", args=[service.pk]))
    # The name and password of a service user are read-only in the admin.
    assert 'name="username"' not in change.content.decode()


def test_org_groups_cannot_be_renamed(admin_client, org):
    group = org.groups.get(name="admins")
    response = admin_client.get(reverse("admin:accounts_orggroup_change", args=[group.pk]))
    assert 'name="name"' not in response.content.decode()


def test_changing_the_time_zone_reschedules_the_orgs_integrations(admin_client, org):
    from django_q.models import Schedule

    from integrations.models import Registry
    from scans.schedules import sync_schedule

    registry = Registry.objects.create(
        organization=org, name="lab", provider="oci", url="r.example", schedule="daily 02:00"
    )
    sync_schedule(registry)
    before = Schedule.objects.get(name=f"scan-registry-{registry.pk}").next_run
    url = reverse("admin:accounts_organization_change", args=[org.pk])
    page = admin_client.get(url)
    data = {"name": org.name, "time_zone": "Asia/Tokyo"}
    for key, value in page.context["adminform"].form.initial.items():
        data.setdefault(key, value)
    for fs in page.context["inline_admin_formsets"]:
        mgmt = fs.formset.management_form
        for name, field in mgmt.fields.items():
            data[f"{mgmt.prefix}-{name}"] = mgmt.initial.get(name, field.initial)
        for i, form in enumerate(fs.formset.forms):
            data[f"{fs.formset.prefix}-{i}-id"] = form.instance.pk
            data[f"{fs.formset.prefix}-{i}-organization"] = org.pk
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    after = Schedule.objects.get(name=f"scan-registry-{registry.pk}").next_run
    # 02:00 in Tokyo is 17:00 UTC: the next run moved with the organization's zone.
    assert (
        after != before
        and after.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).hour == 2
    )
