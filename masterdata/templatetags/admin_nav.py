"""``{% nav_sidebar %}``: the admin's navigation sidebar, rendered once per menu and kept in memory.

Every admin page renders the sidebar from ``available_apps`` (the menu of what the user may
open); for a superuser that is some forty models, about a tenth of a list page's CPU. The HTML
depends on nothing but that menu, which entries the current path highlights and the language,
so the tag keys the rendered HTML on exactly those and renders Django's own template
(``admin/nav_sidebar.html``) only for a key it has not seen. Two users with the same menu share
it; a user whose permissions change gets a different menu, hence a different key.

Process memory rather than Django's ``{% cache %}`` tag: the fragment is some 20 kB, a Redis
round trip per page would eat much of the gain, and a fragment kept in Redis could outlive a
deployment that changed the template.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from django import template
from django.template.defaultfilters import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

register = template.Library()

TEMPLATE = "admin/nav_sidebar.html"
#: Distinct menus × highlighted entries × languages; past this the memory starts over.
MAX_ENTRIES = 256
_rendered: dict[Hashable, SafeString] = {}


def _frozen(value: Any) -> Hashable:
    """A hashable copy of a menu entry: every value the template could print or test.

    Dicts keep their order: the admin builds every menu in the same order.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, dict):
        return tuple([(key, _frozen(item)) for key, item in value.items()])
    if isinstance(value, list | tuple):
        return tuple([_frozen(item) for item in value])
    if isinstance(value, type):
        return value._meta.label if hasattr(value, "_meta") else value.__qualname__
    return str(value)


def _highlighted(apps: list[dict[str, Any]], path: str) -> tuple[bool, ...]:
    """What ``{% if url in request.path|urlencode %}`` decides for each app and model of the menu."""
    quoted = urlencode(path)
    urls = [app.get("app_url") for app in apps] + [model.get("admin_url") for app in apps for model in app["models"]]
    return tuple(isinstance(url, str) and url in quoted for url in urls)


def sidebar_key(apps: list[dict[str, Any]], path: str) -> Hashable:
    return (get_language(), _frozen(apps), _highlighted(apps, path))


@register.simple_tag(takes_context=True)
def nav_sidebar(context: template.Context) -> SafeString:
    """The sidebar as ``{% include "admin/nav_sidebar.html" %}`` renders it, from memory when seen before."""
    apps = context.get("available_apps") or []
    request = context.get("request")
    if request is None:
        return _render(context)
    key = sidebar_key(apps, request.path)
    html = _rendered.get(key)
    if html is None:
        html = _render(context)
        if len(_rendered) >= MAX_ENTRIES:
            _rendered.clear()
        _rendered[key] = html
    return html


def _render(context: template.Context) -> SafeString:
    sidebar = context.template.engine.get_template(TEMPLATE)
    with context.push():
        return mark_safe(sidebar.render(context))
