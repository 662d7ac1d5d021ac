from __future__ import annotations

import json
from io import StringIO

from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from accounts.models import Organization, OrgGroup


def test_bootstrap_creates_org_groups_and_admin_once(db, monkeypatch):
    monkeypatch.setenv("REGSCAN_ADMIN_PASSWORD", "a-long-admin-password")
    out, err = StringIO(), StringIO()
    call_command("bootstrap", "--json", stdout=out, stderr=err)
    assert json.loads(out.getvalue()) == {
        "organization": "default",
        "admin": "admin",
        "created_admin": True,
    }
    org = Organization.objects.get(name="default")
    assert sorted(org.groups.values_list("name", flat=True)) == ["admins", "members"]
    admin = authenticate(username="admin", password="a-long-admin-password")
    assert admin is not None and admin.is_superuser
    assert OrgGroup.objects.get(organization=org, name="admins").users.filter(pk=admin.pk).exists()
    assert "a-long-admin-password" not in err.getvalue()
    call_command("bootstrap", stdout=StringIO(), stderr=StringIO())
    assert Organization.objects.count() == 1
    assert get_user_model().objects.filter(username="admin").count() == 1


def test_generated_password_is_printed_once(db, monkeypatch):
    monkeypatch.delenv("REGSCAN_ADMIN_PASSWORD", raising=False)
    err = StringIO()
    call_command("bootstrap", "--org", "acme", "--admin", "root", stdout=StringIO(), stderr=err)
    password = err.getvalue().rsplit("password: ", 1)[1].strip()
    assert authenticate(username="root", password=password) is not None
    again = StringIO()
    call_command("bootstrap", "--org", "acme", "--admin", "root", stdout=StringIO(), stderr=again)
    assert password not in again.getvalue()
