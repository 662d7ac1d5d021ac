from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Organization, OrgGroup, Profile


class OrgGroupInline(admin.TabularInline):
    model = OrgGroup
    fields = ("name", "users")
    readonly_fields = ("name",)
    filter_horizontal = ("users",)
    extra = 0
    can_delete = False  # every organization keeps exactly its admins and members groups

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "time_zone", "service_user", "created_at")
    list_select_related = ("service_user",)
    search_fields = ("name",)
    readonly_fields = ("service_user", "created_at")
    inlines = [OrgGroupInline]

    def save_model(self, request: HttpRequest, obj: Organization, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "time_zone" in form.changed_data:
            # Schedules such as "daily 02:00" are read in the organization's time zone.
            from scans.schedules import sync_org_schedules

            synced = sync_org_schedules(obj)
            self.message_user(request, f"Rescheduled {synced} integration(s) for {obj.time_zone}.")


@admin.register(OrgGroup)
class OrgGroupAdmin(admin.ModelAdmin):
    list_display = ("organization", "name", "member_count")
    list_filter = ("name", "organization")
    list_select_related = ("organization",)
    filter_horizontal = ("users",)

    def get_readonly_fields(self, request: HttpRequest, obj: OrgGroup | None = None):
        # Renaming or moving a group would break the admins/members invariant.
        return ("organization", "name") if obj else ()

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrgGroup]:
        return super().get_queryset(request).prefetch_related("users")

    @admin.display(description="members")
    def member_count(self, obj: OrgGroup) -> int:
        return len(obj.users.all())


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    fields = ("is_service_user", "current_organization", "time_zone")
    readonly_fields = ("is_service_user",)
    fk_name = "user"


class ServiceUserFilter(admin.SimpleListFilter):
    title = "service user"
    parameter_name = "service_user"

    def lookups(self, request, model_admin):
        return [("yes", "Service users"), ("no", "People")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(profile__is_service_user=True)
        if self.value() == "no":
            return queryset.exclude(profile__is_service_user=True)
        return queryset


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [ProfileInline]
    list_display = ("username", "email", "is_staff", "is_active", "is_service_user")
    list_filter = (ServiceUserFilter, "is_staff", "is_superuser", "is_active")
    list_select_related = ("profile",)

    @admin.display(boolean=True, description="service user", ordering="profile__is_service_user")
    def is_service_user(self, obj) -> bool:
        profile = getattr(obj, "profile", None)
        return bool(profile and profile.is_service_user)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and self.is_service_user(obj):
            # A service user never gets a password or a new name: automatic scans name it.
            fields += ["username", "password"]
        return fields


admin.site.site_header = "regscan administration"
admin.site.site_title = "regscan admin"
