"""Filters of the findings and images lists (django-filter).

Choices that list registries are narrowed to the current organization, so a filter never
reveals another organization's names.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from accounts.scoping import for_org
from integrations.models import Registry
from scans.models import Tag
from scans.vulndb.models import Finding, FindingStatus, Severity

__all__ = ["FindingFilter", "ImageFilter"]

ACCEPTANCE_CHOICES = [
    ("", "Hide accepted"),
    ("accepted", "Only accepted"),
    ("all", "Accepted and not accepted"),
]


class _OrgRegistryMixin:
    def _narrow_registries(self, org: Any) -> None:
        self.filters["registry"].queryset = for_org(Registry, org).order_by("name")


class FindingFilter(_OrgRegistryMixin, django_filters.FilterSet):
    """Registry, repository, severity, fixable, KEV, status, acceptance and free text.

    Status defaults to open findings; accepted findings are hidden unless asked for.
    """

    q = django_filters.CharFilter(
        method="filter_text",
        label="Search",
        widget=forms.TextInput(attrs={"placeholder": "CVE, package, image…", "type": "search"}),
    )
    registry = django_filters.ModelChoiceFilter(
        field_name="image__registry",
        queryset=Registry.objects.none(),
        empty_label="All registries",
        label="Registry",
    )
    repository = django_filters.CharFilter(
        method="filter_repository",
        label="Repository",
        widget=forms.TextInput(attrs={"placeholder": "team/app"}),
    )
    severity = django_filters.MultipleChoiceFilter(
        choices=Severity.choices, widget=forms.CheckboxSelectMultiple
    )
    fixable = django_filters.BooleanFilter(
        method="filter_fixable",
        label="Fix available",
        widget=forms.Select(
            choices=[("", "Any"), ("true", "Fix available"), ("false", "No fix yet")]
        ),
    )
    kev = django_filters.BooleanFilter(
        label="Known exploited (KEV)",
        widget=forms.Select(choices=[("", "Any"), ("true", "In KEV"), ("false", "Not in KEV")]),
    )
    status = django_filters.ChoiceFilter(
        choices=[*FindingStatus.choices, ("all", "All")],
        method="filter_status",
        empty_label=None,
        null_label=None,
    )
    accepted = django_filters.ChoiceFilter(
        choices=ACCEPTANCE_CHOICES[1:],
        method="filter_accepted",
        empty_label="Hide accepted",
        label="Risk accepted",
    )

    class Meta:
        model = Finding
        fields = ["q", "registry", "repository", "severity", "fixable", "kev", "status", "accepted"]

    def __init__(self, data: Any = None, *args: Any, org: Any = None, **kwargs: Any) -> None:
        data = data.copy() if data is not None else None
        if data is not None and not data.get("status"):
            data["status"] = FindingStatus.OPEN
        super().__init__(data, *args, **kwargs)
        self._narrow_registries(org)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        qs = super().filter_queryset(queryset)
        if "accepted" in self.form.cleaned_data and not self.form.cleaned_data["accepted"]:
            qs = qs.filter(is_accepted=False)
        return qs

    def filter_text(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(
            Q(vulnerability__osv_id__icontains=value)
            | Q(aliases__icontains=value)
            | Q(package_name__icontains=value)
            | Q(purl__icontains=value)
            | Q(image__tags__repository__name__icontains=value)
        ).distinct()

    def filter_repository(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return qs.filter(image__tags__repository__name=value).distinct() if value else qs

    def filter_fixable(self, qs: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return qs
        return qs.exclude(fixed_version="") if value else qs.filter(fixed_version="")

    def filter_status(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return qs if value in ("", "all") else qs.filter(status=value)

    def filter_accepted(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        if value == "accepted":
            return qs.filter(is_accepted=True)
        return qs  # "all"; the default (hide accepted) is applied in filter_queryset


class ImageFilter(_OrgRegistryMixin, django_filters.FilterSet):
    """Filters of the images list, whose rows are tags (repository:tag and its images)."""

    registry = django_filters.ModelChoiceFilter(
        field_name="repository__registry",
        queryset=Registry.objects.none(),
        empty_label="All registries",
        label="Registry",
    )
    q = django_filters.CharFilter(
        method="filter_text",
        label="Search",
        widget=forms.TextInput(
            attrs={"placeholder": "repository, tag or digest", "type": "search"}
        ),
    )

    class Meta:
        model = Tag
        fields = ["registry", "q"]

    def __init__(self, data: Any = None, *args: Any, org: Any = None, **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)
        self._narrow_registries(org)

    def filter_text(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(
            Q(repository__name__icontains=value)
            | Q(name__icontains=value)
            | Q(digest__icontains=value)
            | Q(images__digest__icontains=value)
        ).distinct()
