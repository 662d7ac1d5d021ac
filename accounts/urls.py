from __future__ import annotations

from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("switch-organization/", views.switch_organization, name="switch_organization"),
]
