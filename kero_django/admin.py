"""The "Kero analytics" link in the admin index, shown to whoever may open the dashboard."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from kero_django.access import allows
from kero_django.models import Dashboard


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    """Read-only and table-free: its "list" is a redirect to the dashboard."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return allows(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return allows(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponseRedirect:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("kero:dashboard", kwargs={"subpath": ""}))
