from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .scoping import user_organizations


def organization(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "current_org": getattr(request, "organization", None),
        "is_org_admin": getattr(request, "is_org_admin", False),
        "user_orgs": user_organizations(user) if user is not None else [],
    }
