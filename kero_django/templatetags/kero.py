"""``{% load kero %}{% kero_pixel %}``: the tracking pixel's ``<img>``, for pages served from a
cache (which the middleware never sees). It renders nothing when ``PIXEL_PATH`` is not set."""

from __future__ import annotations

from django import template
from django.urls import get_script_prefix
from django.utils.html import format_html
from django.utils.safestring import SafeString

from kero_django.runtime import tracker

register = template.Library()


@register.simple_tag
def kero_pixel() -> SafeString | str:
    kero = tracker()
    if kero is None or kero.config.pixel_path is None:
        return ""
    # The pixel records the page named in its Referer: ask for it even under a stricter
    # page-wide Referrer-Policy (it is sent to this same origin only).
    return format_html(
        '<img src="{}" alt="" width="1" height="1" referrerpolicy="same-origin">',
        get_script_prefix().rstrip("/") + kero.config.pixel_path,
    )
