from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.scoping import for_org

from .models import Image, ScanRun


def dashboard(request: HttpRequest) -> HttpResponse:
    runs = for_org(ScanRun, request.organization).select_related("registry")[:10]
    return render(request, "scans/dashboard.html", {"runs": runs})


def finding_list(request: HttpRequest) -> HttpResponse:
    return render(request, "scans/finding_list.html", {})


def image_list(request: HttpRequest) -> HttpResponse:
    images = for_org(Image, request.organization).select_related("registry", "sbom")[:200]
    return render(request, "scans/image_list.html", {"images": images})
