"""``{% golden_result_list cl %}``: Django's ``{% result_list %}`` with the rows of :class:`RowRenderer`.

Same template (``admin/…/change_list_results.html``, looked up as Django does), same context;
only the cells are computed with the per-page work done once (see ``masterdata.admin.listing``).
"""

from __future__ import annotations

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from masterdata.admin.listing import result_list

register = template.Library()


@register.tag(name="golden_result_list")
def golden_result_list_tag(parser: template.base.Parser, token: template.base.Token) -> InclusionAdminNode:
    return InclusionAdminNode(
        parser, token, func=result_list, template_name="change_list_results.html", takes_context=False
    )
