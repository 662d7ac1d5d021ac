from __future__ import annotations

from django.urls import path

from . import views

app_name = "scans"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("findings/", views.finding_list, name="finding_list"),
    path("images/", views.image_list, name="image_list"),
]
