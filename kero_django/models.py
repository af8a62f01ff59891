"""No data lives in Django's database: Kero stores events in its own DuckDB folder.

``Dashboard`` has no table (``managed = False``) and no permissions. It exists only so the admin
index lists a "Kero analytics" link, which works whatever the order of INSTALLED_APPS (an
overridden ``admin/index.html`` would need kero_django listed before django.contrib.admin)."""

from django.db import models


class Dashboard(models.Model):
    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "Kero analytics"
        verbose_name_plural = "Kero analytics"
