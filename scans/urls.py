from __future__ import annotations

from django.urls import path

from . import views

app_name = "scans"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("findings/", views.finding_list, name="finding_list"),
    path("findings/export.csv", views.finding_export, {"fmt": "csv"}, name="finding_export_csv"),
    path("findings/export.json", views.finding_export, {"fmt": "json"}, name="finding_export_json"),
    path("findings/<int:pk>/", views.finding_detail, name="finding_detail"),
    path("findings/<int:pk>/accept/", views.finding_accept, name="finding_accept"),
    path("vulnerabilities/<str:osv_id>/", views.vulnerability_detail, name="vulnerability_detail"),
    path("acceptances/", views.acceptance_list, name="acceptance_list"),
    path("acceptances/openvex.json", views.acceptance_openvex, name="acceptance_openvex"),
    path("acceptances/<int:pk>/revoke/", views.acceptance_revoke, name="acceptance_revoke"),
    path("scans/<int:pk>/", views.scan_run_detail, name="scan_run_detail"),
    path("images/", views.image_list, name="image_list"),
    path("images/<int:pk>/", views.image_detail, name="image_detail"),
    path("images/<int:pk>/sbom.cdx.json", views.image_sbom, name="image_sbom"),
]
