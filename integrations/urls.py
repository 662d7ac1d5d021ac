from __future__ import annotations

from django.urls import path

from . import views

app_name = "integrations"
urlpatterns = [
    path("", views.registry_list, name="registry_list"),
    path("scan/", views.registry_bulk_scan, name="registry_bulk_scan"),
    path("add/<slug:provider>/", views.registry_add, name="registry_add"),
    path("add/<slug:provider>/<slug:step>/", views.registry_add, name="registry_add_step"),
    path("<int:pk>/edit/", views.registry_edit, name="registry_edit"),
    path("<int:pk>/edit/<slug:step>/", views.registry_edit, name="registry_edit_step"),
    path("<int:pk>/scan/", views.registry_scan, name="registry_scan"),
    path("<int:pk>/delete/", views.registry_delete, name="registry_delete"),
]
