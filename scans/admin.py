"""Admin for scan data: runs with their ledger, repositories, tags and images (read-mostly)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import Image, ImageScan, Repository, ScanRun, Tag


class ImageScanInline(admin.TabularInline):
    model = ImageScan
    fields = ("order", "repository", "tag", "digest", "platform", "status", "reason", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ScanRun)
class ScanRunAdmin(admin.ModelAdmin):
    list_display = (
        "registry", "trigger", "status", "created_at", "finished_at", "selected", "scanned",
        "reused", "failed", "skipped",
    )  # fmt: skip
    list_filter = ("status", "trigger", "registry__organization")
    list_select_related = ("registry",)
    readonly_fields = [f.name for f in ScanRun._meta.fields]
    inlines = [ImageScanInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are started with Scan Now, the schedule or runscan


@admin.register(ImageScan)
class ImageScanAdmin(admin.ModelAdmin):
    list_display = ("run", "repository", "tag", "status", "reason", "finished_at")
    list_filter = ("status",)
    list_select_related = ("run__registry",)
    search_fields = ("repository", "tag", "digest")
    readonly_fields = [f.name for f in ImageScan._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = ("name", "registry", "first_seen", "last_seen")
    list_select_related = ("registry",)
    search_fields = ("name",)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("__str__", "digest", "pushed_at", "pushed_at_source", "last_scanned")
    list_select_related = ("repository",)
    search_fields = ("name", "repository__name", "digest")
    raw_id_fields = ("repository",)
    filter_horizontal = ("images",)


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("__str__", "registry", "platform", "last_scanned")
    list_select_related = ("registry",)
    search_fields = ("digest",)
    raw_id_fields = ("registry", "sbom")
