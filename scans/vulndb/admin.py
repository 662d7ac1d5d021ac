"""Admin pages: vulnerability records (with their affected packages), KEV, EPSS, imports and
findings. Records are imported data: the admin is for looking, not editing."""

from __future__ import annotations

from django.contrib import admin

from .models import Affected, EpssScore, Finding, ImportSource, KevEntry, Vulnerability


class AffectedInline(admin.TabularInline):
    model = Affected
    extra = 0
    fields = ("ecosystem", "name", "ranges", "versions")
    readonly_fields = fields
    can_delete = False


@admin.register(Vulnerability)
class VulnerabilityAdmin(admin.ModelAdmin):
    list_display = ("osv_id", "severity", "cvss_score", "summary", "modified", "withdrawn")
    list_filter = ("severity", "source")
    search_fields = ("osv_id", "aliases", "summary")
    inlines = [AffectedInline]
    readonly_fields = ("content_hash", "imported_at")


@admin.register(KevEntry)
class KevEntryAdmin(admin.ModelAdmin):
    list_display = ("cve", "vendor", "product", "date_added", "due_date", "ransomware")
    search_fields = ("cve", "vendor", "product")


@admin.register(EpssScore)
class EpssScoreAdmin(admin.ModelAdmin):
    list_display = ("cve", "score", "percentile", "score_date")
    search_fields = ("cve",)


@admin.register(ImportSource)
class ImportSourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "last_imported_at", "records", "created", "updated")
    readonly_fields = ("last_imported_at", "last_changed_at")


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = (
        "vulnerability",
        "package_name",
        "package_version",
        "image",
        "status",
        "severity",
        "kev",
        "priority",
    )
    list_filter = ("status", "severity", "kev")
    list_select_related = ("vulnerability", "image")
    search_fields = ("package_name", "vulnerability__osv_id", "image__digest")
    raw_id_fields = ("image", "vulnerability")
