"""The redacting log filter: no secret or sensitive value reaches a log line, whatever logs it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from masterdata.observability import logs, redaction

log = logging.getLogger("tests.redaction")


@pytest.fixture
def console() -> Iterator[dict]:
    """The settings' console handler writing into buffers, plain and JSON; returns a reader per format."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    previous_stream, previous_formatter = handler.setStream(buffer), handler.formatter

    def read(fmt: str):
        def reader() -> str:
            return buffer.getvalue()

        handler.setFormatter(logs.json_formatter() if fmt == "json" else logging.Formatter(logs.PLAIN_FORMAT))
        return reader

    yield read
    handler.setStream(previous_stream)
    handler.setFormatter(previous_formatter)


def test_the_console_handler_of_the_settings_redacts():
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")

    assert any(isinstance(f, redaction.RedactingFilter) for f in handler.filters)


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_credentials_are_redacted_from_messages_arguments_and_extras(console, fmt):
    output = console(fmt)

    log.warning("GET %s", "https://crm.example.com/api?api_key=k-19-secret&page=2")
    log.warning("request headers: %s", {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig9"})
    log.warning("login %s", "password=Hunter-22", extra={"detail": {"client_secret": "cs-0001", "page": 2}})
    log.warning("calling postgres://mdm:Db-Pass-7@db:5432/mdm")

    text = output()
    for secret in ("k-19-secret", "eyJhbGciOiJIUzI1NiJ9", "Hunter-22", "cs-0001", "Db-Pass-7"):
        assert secret not in text
    assert text.count(redaction.REDACTED) >= (5 if fmt == "json" else 4)  # plain lines leave extras out
    assert "page=2" in text and "crm.example.com" in text  # the rest of the line stays useful
    if fmt == "json":
        lines = [json.loads(line) for line in text.splitlines()]
        assert lines[2]["detail"] == {"client_secret": "[redacted]", "page": 2}


def test_sensitive_values_are_redacted_by_shape_and_by_name(console):
    output = console("plain")

    log.warning("supplier S-1 bank account changed to DE89 3704 0044 0532 0130 00")
    log.warning("employee E-7 id 11010519491231002X, ssn 123-45-6789")
    log.warning("payload bank_account=CN6222021001012345678 name=Alpha")

    text = output()
    for value in ("DE89 3704", "11010519491231002X", "123-45-6789", "CN6222021001012345678"):
        assert value not in text
    assert "name=Alpha" in text and "supplier S-1" in text


def test_a_secret_once_used_is_redacted_wherever_it_appears(console):
    output = console("plain")
    redaction.remember("plain-looking-value-31")

    log.error("the partner answered: unknown user plain-looking-value-31 (check it)")

    assert "plain-looking-value-31" not in output()
    assert "unknown user [redacted] (check it)" in output()


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_tracebacks_are_redacted_too(console, fmt):
    output = console(fmt)

    try:
        raise ConnectionError("connect failed for https://svc:Tr4ce-Pass@erp.example.com/odata?token=tk-77777")
    except ConnectionError:
        log.exception("sync stopped")

    text = output()
    assert "ConnectionError" in text and "sync stopped" in text
    assert "Tr4ce-Pass" not in text and "tk-77777" not in text


def test_ordinary_lines_are_left_alone(console):
    output = console("plain")

    log.info("Customer CUS-000101 updated to version 3 by steward_a; Basic authentication needs a user name.")

    assert "Customer CUS-000101 updated to version 3 by steward_a; Basic authentication needs a user name." in output()


def test_a_broken_format_string_is_still_logged_without_its_arguments(console):
    output = console("plain")

    log.warning("sent %s and %s", "tok-123456")

    assert "tok-123456" not in output() and "sent %s and %s (arguments withheld" in output()
