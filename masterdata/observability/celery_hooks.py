"""Celery signal wiring: the correlation id travels with each task; workers may serve metrics.

The publisher adds the current id to the message headers; the worker restores it before the
task runs, so the task's logs and outbound calls carry the id of the request (or of the task)
that caused them. A task published outside any request or task gets an id of its own: a
scheduled sync run is traceable from its first log line to its last outbound call.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

from celery import signals
from django.conf import settings

from . import context, metrics

#: Context tokens of the running tasks by task id, to restore what was there before (eager tasks
#: run inside the caller's request and must give its id back).
_tokens: dict[str, Token] = {}


@signals.before_task_publish.connect
def add_correlation_header(sender: str | None = None, headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    correlation_id = context.current()
    if correlation_id and headers is not None:
        headers.setdefault(context.TASK_HEADER, correlation_id)


def task_correlation_id(request: Any) -> str | None:
    """The id a task message carries: a worker merges custom headers into the request, ``apply`` keeps them apart."""
    return getattr(request, context.TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        context.TASK_HEADER
    )


@signals.task_prerun.connect
def restore_correlation_id(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    offered = task_correlation_id(task.request) if task is not None else None
    if offered is None and task is not None and task.request.is_eager:
        offered = context.current()
    if task_id:
        _tokens[task_id] = context.enter(offered)[1]


@signals.task_postrun.connect
def forget_correlation_id(task_id: str | None = None, **kwargs: Any) -> None:
    token = _tokens.pop(task_id, None) if task_id else None
    if token is not None:
        context.leave(token)


@signals.worker_ready.connect
def start_worker_metrics(**kwargs: Any) -> None:
    if settings.MDM_WORKER_METRICS_PORT:
        metrics.serve_worker_metrics(settings.MDM_WORKER_METRICS_PORT, settings.MDM_WORKER_METRICS_ADDRESS)
