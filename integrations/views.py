from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.scoping import for_org

from .models import Registry


def registry_list(request: HttpRequest) -> HttpResponse:
    registries = for_org(Registry, request.organization).order_by("name")
    return render(request, "integrations/registry_list.html", {"registries": registries})
