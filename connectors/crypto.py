"""Secrets of connections, encrypted at rest.

Why: passwords, tokens, API keys and OAuth client secrets must never sit in clear in the
database, a dump, the API or a log line (DESIGN §6). They are encrypted with Fernet
(AES-128-CBC + HMAC-SHA256) under keys taken from the environment:

* ``MDM_ENCRYPTION_KEYS`` — comma-separated Fernet keys (``Fernet.generate_key()``); the first
  encrypts, every one decrypts (:class:`~cryptography.fernet.MultiFernet`). Rotation: put a new
  key first, keep the old ones, run ``manage.py rotate_keys``, then drop the old keys. The key
  ring itself lives in :mod:`masterdata.crypto`, shared with the sensitive golden fields.
* With no keys and ``DEBUG`` on, a development key is derived from ``SECRET_KEY`` (SHA-256 of a
  fixed label and the key), so the quick start works. Secrets saved that way must be re-entered
  or rotated once real keys are configured. With ``DEBUG`` off and no keys, using a secret
  raises :class:`~django.core.exceptions.ImproperlyConfigured`.

A secret may instead be a *reference* ``${ENV:NAME}``: it is not itself secret, is stored as
written and is resolved from the environment each time it is used.

In Python a secret is a :class:`Secret`: its ``str``/``repr`` are masked; only
:meth:`Secret.reveal` gives the clear value.
"""

from __future__ import annotations

import os
import re
from typing import Any

from cryptography.fernet import InvalidToken
from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.query_utils import DeferredAttribute

from masterdata.crypto import KEYS_ENV, EncryptedColumn, fernet, generate_key
from masterdata.observability import redaction

__all__ = ["KEYS_ENV", "EncryptedTextField", "Secret", "SecretError", "fernet", "generate_key"]

STORED_PREFIX = "fernet:"
REFERENCE_RE = re.compile(r"^\$\{ENV:([A-Za-z_][A-Za-z0-9_]*)\}$")


class SecretError(Exception):
    """A secret cannot be used: an unset environment variable or a key that no longer decrypts it."""


def encrypt(cleartext: str) -> str:
    return STORED_PREFIX + fernet().encrypt(cleartext.encode("utf-8")).decode("ascii")


def decrypt(stored: str) -> str:
    token = stored.removeprefix(STORED_PREFIX)
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise SecretError("no configured encryption key decrypts this secret") from exc


def rotate(stored: str) -> str:
    """Re-encrypt a stored value under the current (first) key; references and blanks are kept."""
    if not stored.startswith(STORED_PREFIX):
        return stored
    token = fernet().rotate(stored.removeprefix(STORED_PREFIX).encode("ascii"))
    return STORED_PREFIX + token.decode("ascii")


class Secret:
    """A secret value whose ``str`` and ``repr`` never show it."""

    __slots__ = ("_stored", "_value")

    def __init__(self, value: str = "", *, _stored: str | None = None) -> None:
        self._value = value
        self._stored = _stored  # ciphertext kept only when it could not be decrypted

    @classmethod
    def undecryptable(cls, stored: str) -> Secret:
        return cls("", _stored=stored)

    @property
    def is_set(self) -> bool:
        return bool(self._value) or self._stored is not None

    @property
    def is_undecryptable(self) -> bool:
        """Stored encrypted under a key that is no longer configured."""
        return self._stored is not None

    @property
    def is_encrypted_at_rest(self) -> bool:
        return self.is_set and not self.is_reference

    @property
    def is_reference(self) -> bool:
        return bool(REFERENCE_RE.match(self._value))

    @property
    def reference_name(self) -> str | None:
        match = REFERENCE_RE.match(self._value)
        return match.group(1) if match else None

    def reveal(self) -> str:
        """The clear value, resolving an ``${ENV:NAME}`` reference now."""
        if self._stored is not None:
            raise SecretError("no configured encryption key decrypts this secret; enter it again or restore the key")
        name = self.reference_name
        if name is None:
            redaction.remember(self._value)  # from now on, no log line shows it
            return self._value
        if name not in os.environ:
            raise SecretError(f"environment variable {name} (referenced by a secret) is not set")
        redaction.remember(os.environ[name])
        return os.environ[name]

    def to_stored(self) -> str:
        """The database form: blank, the reference as written, or ``fernet:<token>``."""
        if self._stored is not None:
            return self._stored
        if not self._value or self.is_reference:
            return self._value
        return encrypt(self._value)

    def __bool__(self) -> bool:
        return self.is_set

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return (self._value, self._stored) == (other._value, other._stored)
        if isinstance(other, str):
            return self._stored is None and self._value == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if self._stored is not None:
            shown = "<undecryptable>"
        elif not self._value:
            shown = "<empty>"
        elif self.is_reference:
            shown = self._value
        else:
            shown = "********"
        return f"Secret({shown})"

    __str__ = __repr__


def as_secret(value: Any) -> Secret:
    """Wrap what code, forms or fixtures assign (clear text, a reference or a stored token)."""
    if isinstance(value, Secret):
        return value
    if value is None or value == "":
        return Secret("")
    if not isinstance(value, str):
        raise TypeError(f"a secret must be a string, not {type(value).__name__}")
    if value.startswith(STORED_PREFIX):
        try:
            return Secret(decrypt(value))
        except (SecretError, ImproperlyConfigured):  # loading a connection must not fail; using the secret does
            return Secret.undecryptable(value)
    return Secret(value)


class _SecretDescriptor(DeferredAttribute):
    """Keeps the attribute a :class:`Secret` whatever is assigned, so it can never print in clear."""

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = as_secret(value)


class EncryptedTextField(EncryptedColumn, models.TextField):
    """A text column holding a :class:`Secret`, encrypted unless it is an ``${ENV:NAME}`` reference."""

    descriptor_class = _SecretDescriptor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Secret:
        return as_secret(value)

    def to_python(self, value: Any) -> Secret:
        return as_secret(value)

    def get_prep_value(self, value: Any) -> str:
        return as_secret(value).to_stored()

    def value_to_string(self, obj: models.Model) -> str:
        """Serialised (dumpdata, config export) in stored form: never in clear."""
        return as_secret(self.value_from_object(obj)).to_stored()

    def rotate_stored(self, stored: str) -> str:
        return rotate(stored)

    def formfield(self, **kwargs: Any) -> forms.Field:
        """A password input that never renders the value back into the page."""
        return super().formfield(**{"widget": forms.PasswordInput(render_value=False), **kwargs})
