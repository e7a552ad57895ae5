"""A logging filter that keeps secrets and sensitive values out of every log line.

Why a filter on the handler and not care at each call site: a secret reaches a log by accident —
an exception that quotes a URL with ``?api_key=``, a library that logs request headers, a
payload in an error message. The filter sees every record the hub writes (message, arguments,
traceback, stack and extra fields) and replaces:

* **known secret values**: the hub's own keys and tokens from the settings, and every connection
  or webhook secret the moment it is decrypted for use (:func:`remember`);
* **credentials by shape**: ``Authorization`` headers, ``Bearer``/``Token``/``Basic`` credentials,
  ``password=…``, ``token: …``, ``"client_secret": "…"`` and the like, user:password in URLs,
  Fernet ciphertexts, the hub's API tokens;
* **sensitive values by shape or name**: IBANs, Chinese resident ids, US social security numbers,
  and values named ``bank_account``, ``national_id``, ``iban``….

It must not import Django models: ``LOGGING`` is built while the settings load.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from typing import Any

REDACTED = "[redacted]"
#: Secrets shorter than this are not matched as plain text (too many false hits).
MIN_KNOWN_LENGTH = 6
MAX_KNOWN = 2000
#: Environment variables whose values are secrets of the hub itself.
SECRET_ENV = ("DJANGO_SECRET_KEY", "MDM_ENCRYPTION_KEYS", "MDM_BLIND_INDEX_KEY", "MDM_METRICS_TOKEN")

_NAMES = (
    r"[\w-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|authorization|credential|private[_-]?key"
    r"|bank[_-]?account|national[_-]?id|iban|ssn)[\w-]*"
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # "password": "…" / 'token': '…' (JSON and Python reprs)
    (re.compile(rf"""(?i)(["']{_NAMES}["']\s*:\s*)(["'])(?:\\.|(?!\2).)*\2"""), rf"\1\2{REDACTED}\2"),
    # password=… / token: … / Authorization: Bearer … (query strings, headers, key=value logs)
    (
        re.compile(rf"""(?i)\b({_NAMES})(\s*[=:]\s*)(?:(?:Bearer|Token|Basic|Digest)\s+)?[^\s&,;'"}}\]]+"""),
        rf"\1\2{REDACTED}",
    ),
    # a credential after its scheme: 8+ characters with a digit, or 20+ (not prose like "Basic authentication")
    (
        re.compile(r"(?i)\b(Bearer|Token|Basic|Digest)\s+(?:(?=[\w.~+/=-]{0,200}\d)[\w.~+/=-]{8,}|[\w.~+/=-]{20,})"),
        rf"\1 {REDACTED}",
    ),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    (re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"), REDACTED),  # Fernet ciphertext
    (re.compile(r"\bmdm_[A-Za-z0-9_-]{20,}"), REDACTED),  # the hub's API tokens
    (re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), REDACTED),  # IBAN
    (re.compile(r"(?<!\d)\d{17}[\dXx](?![\dA-Za-z])"), REDACTED),  # resident identity card (CN)
    (re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)"), REDACTED),  # social security number (US)
]
_SECRET_KEY_NAME = re.compile(rf"(?i)^{_NAMES}$")

_known: OrderedDict[str, None] = OrderedDict()
_known_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def remember(value: str) -> None:
    """Redact ``value`` wherever it appears from now on (a secret just decrypted for use)."""
    global _known_pattern
    if not isinstance(value, str) or len(value) < MIN_KNOWN_LENGTH or value in _known:
        return
    with _lock:
        _known[value] = None
        while len(_known) > MAX_KNOWN:
            _known.popitem(last=False)
        _known_pattern = None


def _known_values_pattern() -> re.Pattern[str] | None:
    global _known_pattern
    if _known_pattern is None and _known:
        with _lock:
            alternatives = sorted(_known, key=len, reverse=True)
            _known_pattern = re.compile("|".join(re.escape(v) for v in alternatives))
    return _known_pattern


def remember_settings_secrets() -> None:
    """The hub's own secrets from the environment (each key of a comma-separated list too)."""
    for name in SECRET_ENV:
        for part in os.environ.get(name, "").split(","):
            remember(part.strip())


def redact(text: str) -> str:
    """``text`` with known secrets and secret-shaped values replaced by ``[redacted]``."""
    if not text:
        return text
    known = _known_values_pattern()
    if known is not None:
        text = known.sub(REDACTED, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, key: Any = None) -> Any:
    """Strings redacted; in mappings, every value under a secret-looking key replaced whole."""
    if key is not None and _SECRET_KEY_NAME.match(str(key)) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


#: Attributes every LogRecord has; anything else was passed as ``extra``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class RedactingFilter(logging.Filter):
    """Rewrites each record in place so no handler after it can print a secret."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        remember_settings_secrets()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: its arguments could be anything
            message = f"{record.msg} (arguments withheld: they do not fit the message)"
        record.msg, record.args = redact(message), None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None  # formatters would print the traceback again, unredacted
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str | dict | list | tuple):
                setattr(record, key, redact_value(value, key))
        return True
