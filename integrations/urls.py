from __future__ import annotations

from django.urls import path

from . import views

app_name = "integrations"
urlpatterns = [
    path("", views.registry_list, name="registry_list"),
]
