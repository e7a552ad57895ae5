"""Beat schedules of mappings: one django-celery-beat periodic task per schedule of a mapping.

Why periodic tasks and not a setting: schedules are edited in the admin while the hub runs,
and django-celery-beat's database scheduler picks changes up without a restart. The task of a
mapping is owned by it (``Mapping.pull_task`` / ``reconcile_task``): an emptied schedule, an
inactive mapping or source disables or removes it; deleting the mapping deletes it.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from connectors.models import Mapping

PULL_TASK = "connectors.tasks.pull"


def task_name(mapping: Mapping, *, full: bool) -> str:
    kind = "full reconcile" if full else "pull"
    return f"{kind} {mapping.source.code} · {mapping.domain} (mapping {mapping.pk})"


def crontab_for(expression: str) -> CrontabSchedule:
    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=settings.CELERY_TIMEZONE or "UTC",
    )
    return schedule


def _keep(mapping: Mapping, task: PeriodicTask | None, expression: str, *, full: bool) -> PeriodicTask | None:
    if not expression:
        if task is not None:
            task.delete()
        return None
    task = task or PeriodicTask(task=PULL_TASK)
    task.name = task_name(mapping, full=full)
    task.task = PULL_TASK
    task.crontab = crontab_for(expression)
    task.interval = task.solar = task.clocked = None
    task.args = json.dumps([mapping.source_id, mapping.domain])
    task.kwargs = json.dumps({"full": full, "trigger": "schedule"})
    task.enabled = bool(mapping.is_active and mapping.source.is_active)
    task.description = "Kept by the mapping; edit the mapping's schedule, not this task."
    task.save()
    return task


def sync_schedules(mapping: Mapping) -> None:
    """Create, update or remove the mapping's periodic tasks to match its schedules."""
    with transaction.atomic():
        pull = _keep(mapping, mapping.pull_task, mapping.schedule.strip(), full=False)
        reconcile = _keep(mapping, mapping.reconcile_task, mapping.reconcile_schedule.strip(), full=True)
        if (pull and pull.pk) != mapping.pull_task_id or (reconcile and reconcile.pk) != mapping.reconcile_task_id:
            Mapping.objects.filter(pk=mapping.pk).update(pull_task=pull, reconcile_task=reconcile)
            mapping.pull_task, mapping.reconcile_task = pull, reconcile


def drop_schedules(mapping: Mapping) -> None:
    ids = [pk for pk in (mapping.pull_task_id, mapping.reconcile_task_id) if pk]
    if ids:
        for task in PeriodicTask.objects.filter(pk__in=ids):
            task.delete()  # one by one: PeriodicTask.delete tells the beat scheduler
