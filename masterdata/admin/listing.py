"""Cheaper change-list rows for the admins stewards page through all day.

Django renders each row's action checkbox through the form-widget template engine (a template
lookup and render per row); on a 50-row page that was about a sixth of the page's CPU. The
mixin writes the same markup with ``format_html`` — a test compares it with Django's own.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import helpers
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _


class FastActionCheckboxMixin:
    """``action_checkbox`` without a widget template: identical HTML, a string format per row."""

    def action_checkbox(self, obj: Any) -> SafeString:
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )
