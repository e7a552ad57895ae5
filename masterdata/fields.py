"""``SensitiveField``: a golden field encrypted at rest that can still be found by exact value.

Why one column and not a ciphertext column plus a companion index column: every write path of
the hub (``save``, ``QuerySet.update``, the sync path's ``COPY`` and ``UPDATE … FROM VALUES``,
simple-history's rows) writes a field's column from the field's own value, so a value and its
index can never drift apart. The column holds ``<blind index>$<Fernet token>``:

* the blind index is the 64 hex characters of :func:`masterdata.crypto.blind_index` — a keyed
  HMAC, so the database can compare values without holding them, and nobody without the key can
  test a guess against it;
* the Fernet token is the value encrypted under the key ring (randomised: the same value encrypts
  differently each time, which is why change tracking compares decrypted values).

Exact lookups (``filter(bank_account=…)``, ``__in``) compare the indexes, served by an
expression index on the first 64 characters (:func:`blind_index_expression`). Other lookups
(``icontains``…) cannot be answered without decrypting every row and are refused.

In Python the value is the clear ``str``; a value no configured key opens loads as
:class:`Undecryptable` and is written back unchanged, so a missing key never destroys data.
"""

from __future__ import annotations

import re
from typing import Any

from cryptography.fernet import InvalidToken
from django import forms
from django.core.exceptions import EmptyResultSet, FieldError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Func, Lookup
from django.utils.functional import cached_property

from masterdata.crypto import EncryptedColumn, blind_index, fernet

INDEX_LENGTH = 64
SEPARATOR = "$"
#: ``<64 hex>$<Fernet token>``; Fernet tokens are URL-safe base64 starting with version byte 0x80.
STORED = re.compile(r"^[0-9a-f]{64}\$gAAAAA[A-Za-z0-9_\-=]+$")


class Undecryptable(str):
    """A stored value no configured key opens: reads as blank, saves back as it was stored."""

    stored: str

    def __new__(cls, stored: str) -> Undecryptable:
        value = super().__new__(cls, "")
        value.stored = stored
        return value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Undecryptable) and other.stored == self.stored

    def __hash__(self) -> int:
        return hash(self.stored)

    def __repr__(self) -> str:
        return "Undecryptable()"


def to_stored(clear: str) -> str:
    """The column form of a clear value: blank stays blank, anything else index + ciphertext."""
    if isinstance(clear, Undecryptable):
        return clear.stored
    if clear == "":
        return ""
    token = fernet().encrypt(clear.encode("utf-8")).decode("ascii")
    return f"{blind_index(clear)}{SEPARATOR}{token}"


def is_stored_form(value: str) -> bool:
    return bool(STORED.match(value))


def from_stored(stored: str | None) -> str:
    """The clear value of a column value (a value stored before encryption reads as it is)."""
    if not stored:
        return ""
    if not is_stored_form(stored):
        return stored
    token = stored[INDEX_LENGTH + len(SEPARATOR) :]
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        return Undecryptable(stored)


def rotate_stored(stored: str) -> str:
    """Re-encrypt under the first key and re-index under the current index key.

    A clear value left from before encryption is encrypted; ``InvalidToken`` when no key opens it.
    """
    if not stored:
        return stored
    if not is_stored_form(stored):
        return to_stored(stored)
    clear = fernet().decrypt(stored[INDEX_LENGTH + len(SEPARATOR) :].encode("ascii")).decode("utf-8")
    return to_stored(clear)


class BlindIndexOf(Func):
    """SQL: the blind index part of a sensitive column (its first 64 characters)."""

    template = f"LEFT(%(expressions)s, {INDEX_LENGTH})"
    output_field = models.CharField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template=f"SUBSTR(%(expressions)s, 1, {INDEX_LENGTH})")


def blind_index_expression(field_name: str) -> BlindIndexOf:
    """The expression to index (``models.Index(blind_index_expression("bank_account"), …)``)."""
    return BlindIndexOf(models.F(field_name))


def _plain(value: Any) -> str:
    if hasattr(value, "resolve_expression"):
        raise FieldError("A sensitive field can only be compared with plain values.")
    return "" if value is None else str(value)


class BlindExact(Lookup):
    """``field = value`` as ``index(field) = blind_index(value)``."""

    lookup_name = "exact"
    prepare_rhs = False

    def get_prep_lookup(self) -> str:
        return blind_index(_plain(self.rhs))

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = compiler.compile(BlindIndexOf(self.lhs))
        return f"{lhs_sql} = %s", [*lhs_params, self.rhs]


class BlindIn(Lookup):
    """``field IN (values)`` as ``index(field) IN (blind indexes)``."""

    lookup_name = "in"
    prepare_rhs = False

    def get_prep_lookup(self) -> list[str]:
        if hasattr(self.rhs, "resolve_expression") or isinstance(self.rhs, str):
            raise FieldError("A sensitive field can only be compared with a list of plain values.")
        return sorted({blind_index(_plain(value)) for value in self.rhs})

    def as_sql(self, compiler, connection):
        if not self.rhs:
            raise EmptyResultSet
        lhs_sql, lhs_params = compiler.compile(BlindIndexOf(self.lhs))
        placeholders = ", ".join(["%s"] * len(self.rhs))
        return f"{lhs_sql} IN ({placeholders})", [*lhs_params, *self.rhs]


class SensitiveField(EncryptedColumn, models.TextField):
    """Clear ``str`` in Python, ``<blind index>$<Fernet token>`` in the column.

    ``max_length`` limits the clear value (the column is text: ciphertext is longer).
    """

    description = "Text encrypted at rest, found by exact value through a keyed blind index"
    ALLOWED_LOOKUPS = {"exact": BlindExact, "in": BlindIn}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    @cached_property
    def validators(self) -> list:
        extra = [MaxLengthValidator(self.max_length)] if self.max_length else []
        return [*super().validators, *extra]

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str:
        return from_stored(value)

    def to_python(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, Undecryptable):
            return value
        value = str(value)
        return from_stored(value) if is_stored_form(value) else value

    def get_prep_value(self, value: Any) -> str:
        return to_stored(self.to_python(value))

    def value_to_string(self, obj: models.Model) -> str:
        """Serialised (``dumpdata``) in stored form: never in clear."""
        return to_stored(self.to_python(self.value_from_object(obj)))

    def rotate_stored(self, stored: str) -> str:
        return rotate_stored(stored)

    def get_lookup(self, lookup_name: str):
        if lookup_name in self.ALLOWED_LOOKUPS:
            return self.ALLOWED_LOOKUPS[lookup_name]
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        return None  # Django answers "Unsupported lookup": only exact values can be found

    def get_transform(self, lookup_name: str):
        return None

    def formfield(self, **kwargs: Any) -> forms.Field:
        return super().formfield(**{"widget": forms.TextInput(attrs={"autocomplete": "off"}), **kwargs})
