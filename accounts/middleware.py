from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .models import Profile
from .scoping import is_org_admin, user_organizations


class CurrentOrganizationMiddleware:
    """Set ``request.organization`` (the user's current organization, or None) and
    ``request.is_org_admin``. A stale choice (no longer a member) falls back to the first
    organization the user belongs to."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organization = None
        request.is_org_admin = False
        user = request.user
        if user.is_authenticated:
            orgs = user_organizations(user)
            profile = Profile.objects.filter(user=user).first()
            org = None
            if profile and profile.current_organization_id:
                org = orgs.filter(pk=profile.current_organization_id).first()
            if org is None:
                org = orgs.first()
            request.organization = org
            request.is_org_admin = is_org_admin(user, org)
        return self.get_response(request)
