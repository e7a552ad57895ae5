"""A failing connector call leaves its credentials nowhere: not in the logs, the run or the failure queue."""

from __future__ import annotations

import io
import logging
import secrets

import pytest

from connectors.models import SyncFailure, SyncRunStatus
from connectors.services import pipeline
from masterdata.observability import logs


@pytest.fixture
def json_console():
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    previous_stream, previous_formatter = handler.setStream(buffer), handler.formatter
    handler.setFormatter(logs.json_formatter())
    yield buffer.getvalue
    handler.setStream(previous_stream)
    handler.setFormatter(previous_formatter)


def test_a_refused_call_logs_no_secret_even_where_a_library_would_print_it(incremental_crm, json_console):
    secret = "tok-" + secrets.token_hex(12)
    connection = incremental_crm.connection
    connection.secret = secret
    connection.save()

    run = pipeline.pull(incremental_crm, "customer").run
    # What a library logging the request would write (urllib3-style debug of headers, a retry notice).
    careless = logging.getLogger("tests.careless_library")
    careless.warning("request headers %s", {"Authorization": f"Bearer {secret}", "Accept": "application/json"})
    careless.error("retry %s with credential %s", connection.base_url, secret)

    output = json_console()
    assert run.status == SyncRunStatus.FAILED and "HTTP 401" in run.error
    assert "tests.careless_library" in output and "[redacted]" in output
    assert secret not in output
    assert secret not in run.error
    assert not any(secret in str(f.payload) + f.error for f in SyncFailure.objects.all())
