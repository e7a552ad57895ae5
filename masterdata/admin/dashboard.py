"""The steward dashboard on the admin index: the figures of :mod:`masterdata.services.dashboard`, drawn.

It sits on the index page (``templates/admin/index.html`` includes it with the
``{% steward_dashboard %}`` tag) so it needs no URL of its own; each section shows only what
the user may see, and each number and bar links to the filtered list behind it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from masterdata.services import dashboard

from .charts import PALETTE, Bar, bar_list, column_chart


def _sync_chart(series: dashboard.SourceSeries) -> str:
    days = series.days
    return column_chart(
        [f"{d.day:%d.%m}" for d in days],
        [
            (
                "records",
                PALETTE["records"],
                [Bar(d.records, d.url, f"{d.day:%d %b}: {d.records} records in {d.runs} run(s)") for d in days],
            ),
            (
                "failures",
                PALETTE["failures"],
                [Bar(d.failures, d.url, f"{d.day:%d %b}: {d.failures} failed records") for d in days],
            ),
        ],
        line=("mean run time", [d.seconds for d in days], "s"),
        label=f"Sync runs of {series.code} per day: records, failures and run time",
    )


def _switch_url(target_id: int, switch: str) -> str | None:
    try:
        return reverse("admin:connectors_pushtarget_switch", args=[target_id, switch])
    except NoReverseMatch:
        return None


def context(request: HttpRequest) -> dict[str, Any]:
    """Everything the dashboard template draws, for the user of ``request``."""
    data = dashboard.build(request.user)
    labels = data.domain_labels
    work = [
        {
            "table": table,
            "columns": [(name, labels.get(name, name)) for name in table.domains],
            "rows": [(label, [cells.get(name) for name in table.domains], total) for label, cells, total in table.rows],
            "chart": bar_list(
                [(labels.get(name, name), Bar(figure.value, figure.url)) for name, figure in table.by_domain.items()],
                label=f"Open {table.kind} by domain",
            )
            if table.by_domain
            else "",
        }
        for table in data.work
    ]
    push = None
    if data.push is not None:
        push = {
            "rows": [(row, _switch_url(row.target_id, "resume" if row.paused else "pause")) for row in data.push],
            "chart": bar_list(
                [(row.label, Bar(row.backlog.value, row.backlog.url)) for row in data.push],
                label="Push backlog per target",
            )
            if data.push
            else "",
        }
    quality = None
    if data.quality is not None:
        quality = {
            "rows": [(labels.get(row.domain, row.domain), row) for row in data.quality],
            "bands": [label for label, _, _ in dashboard.SCORE_BANDS],
            "worst_rules": [(labels.get(row.domain, row.domain), row) for row in data.quality if row.worst_rules],
            "chart": bar_list(
                [(labels.get(r.domain, r.domain), Bar(r.score.value, r.score.url)) for r in data.quality],
                scale=100,
                label="Mean data-quality score per domain",
            )
            if data.quality
            else "",
        }
    return {
        "dashboard": data,
        "sync_charts": [(series, _sync_chart(series)) for series in data.sync_runs or []],
        "work": work,
        "push": push,
        "quality": quality,
        "request": request,
    }
