"""The one place that scopes data to the current organization.

Views never filter by organization themselves: they call :func:`for_org` or
:func:`get_for_org_or_404`, which use each model's ``org_lookup`` (the ORM path from the model
to its organization, e.g. ``"registry__organization"``). A model without ``org_lookup`` cannot
be scoped and raises, so isolation is never silently skipped.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from .models import Organization, OrgGroup, OrgRole

__all__ = ["for_org", "get_for_org_or_404", "is_org_admin", "user_organizations"]

M = TypeVar("M", bound=Model)


def user_organizations(user: Any) -> QuerySet[Organization]:
    if not getattr(user, "is_authenticated", False):
        return Organization.objects.none()
    return Organization.objects.filter(groups__users=user).distinct()


def is_org_admin(user: Any, org: Organization | None) -> bool:
    """True when ``user`` is in ``org``'s ``admins`` group."""
    if org is None or not getattr(user, "is_authenticated", False):
        return False
    return OrgGroup.objects.filter(organization=org, name=OrgRole.ADMINS, users=user).exists()


def for_org(qs: QuerySet[M] | type[M], org: Organization | None) -> QuerySet[M]:
    """Return ``qs`` narrowed to ``org`` (empty when ``org`` is None)."""
    if not isinstance(qs, QuerySet):
        qs = qs._default_manager.all()
    lookup = getattr(qs.model, "org_lookup", None)
    if lookup is None:
        raise TypeError(f"{qs.model.__name__} has no org_lookup; it cannot be org-scoped")
    if org is None:
        return qs.none()
    return qs.filter(**{lookup: org})


def get_for_org_or_404(qs: QuerySet[M] | type[M], request: HttpRequest, **lookup: Any) -> M:
    """Fetch one object of the current organization, or raise Http404 (outsiders learn nothing)."""
    scoped = for_org(qs, getattr(request, "organization", None))
    try:
        return scoped.get(**lookup)
    except scoped.model.DoesNotExist:
        raise Http404("No such object in this organization.")
