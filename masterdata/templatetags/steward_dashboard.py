"""``{% steward_dashboard %}``: the dashboard of the admin index, for the logged-in user."""

from __future__ import annotations

from typing import Any

from django import template

from masterdata.admin.dashboard import context as dashboard_context

register = template.Library()


@register.inclusion_tag("admin/masterdata/dashboard.html", takes_context=True)
def steward_dashboard(context: template.Context) -> dict[str, Any]:
    return {**dashboard_context(context["request"]), "csrf_token": context.get("csrf_token")}
