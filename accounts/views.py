from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .models import Profile
from .scoping import user_organizations


@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    """Make another of the user's organizations the current one."""
    org = user_organizations(request.user).filter(pk=request.POST.get("organization")).first()
    if org is None:
        messages.error(request, "You are not a member of that organization.")
    else:
        Profile.objects.update_or_create(user=request.user, defaults={"current_organization": org})
        messages.success(request, f"Now working in {org.name}.")
    target = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)
