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

import json
import re
from typing import Any

from cryptography.fernet import InvalidToken
from django import forms
from django.core.exceptions import EmptyResultSet, FieldError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Func, Lookup
from django.utils.functional import cached_property

from masterdata import jsontext
from masterdata.crypto import EncryptedColumn, blind_index, fernet, is_sealed, open_sealed, seal, unseal
from masterdata.registry import registry

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


# --- sealed JSON documents -------------------------------------------------------------------------
class Stored:
    """A document as :meth:`SealedJSONField.pre_save` decided to write it (sealed or, for its domain, plain)."""

    __slots__ = ("document",)

    def __init__(self, document: Any) -> None:
        self.document = document


def domain_seals(name: str | None) -> bool:
    """Are documents of domain ``name`` sealed? Yes when the domain has sensitive fields.

    An unknown domain name (or none at all, a deferred column) is sealed: the safe side. An empty
    name — a webhook batch, which carries no field values — is not.
    """
    if name == "":
        return False
    if name is None or name not in registry:
        return True
    return bool(registry.get(name).sensitive_fields)


class SealedJSONField(EncryptedColumn, models.JSONField):
    """JSON in Python; in the column sealed (``{"sealed": <token>}``) when the row's domain has sensitive fields.

    Why the whole document: source payloads, conflict candidates and failure payloads carry
    sensitive values under whatever names the source uses; only sealing all of it keeps them out
    of the database in clear. Documents of domains without sensitive fields (customers) stay plain
    JSON, so the sync path of those pays nothing.

    ``items_key``: the column is a list of objects and only each one's ``items_key`` is sealed
    (conflict candidates: ``source`` and ``trust`` stay readable, so the inbox filters by source).

    The decision needs the row's domain (``domain_field``), so it is taken where the row is known:
    :meth:`pre_save` (saves, ``bulk_create``, the sync path's COPY and ``UPDATE … FROM VALUES``)
    and :class:`SealedQuerySet` (``update``, ``bulk_update``). Any other write that hands the column
    a bare value is sealed, whatever the domain: a forgotten path can cost speed, never leak.
    """

    description = "JSON sealed with the hub's key ring for domains with sensitive fields"

    def __init__(self, *args: Any, domain_field: str = "domain", items_key: str | None = None, **kwargs: Any) -> None:
        self.domain_field = domain_field
        self.items_key = items_key
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.domain_field != "domain":
            kwargs["domain_field"] = self.domain_field
        if self.items_key is not None:
            kwargs["items_key"] = self.items_key
        return name, path, args, kwargs

    @property
    def rotation_columns(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.model._meta.get_field(self.domain_field).column,)

    # --- sealing ------------------------------------------------------------------------------
    def seals(self, instance: models.Model) -> bool:
        return domain_seals(instance.__dict__.get(self.model._meta.get_field(self.domain_field).attname))

    def sealed(self, value: Any) -> Any:
        """``value`` in its sealed column form (``None`` stays ``None``: nothing to hide)."""
        if value is None:
            return None
        if self.items_key is None:
            return seal(value, self.encoder)
        if not isinstance(value, list):
            return seal(value, self.encoder)
        key = self.items_key
        return [
            {**item, key: seal(item[key], self.encoder)} if isinstance(item, dict) and key in item else item
            for item in value
        ]

    def unsealed(self, value: Any) -> Any:
        if self.items_key is None or not isinstance(value, list):
            return unseal(value)
        key = self.items_key
        return [{**item, key: unseal(item[key])} if isinstance(item, dict) and key in item else item for item in value]

    def stored_document(self, instance: models.Model) -> Any:
        """The document the column must hold for ``instance``."""
        value = getattr(instance, self.attname)
        return self.sealed(value) if self.seals(instance) else value

    def pre_save(self, model_instance: models.Model, add: bool) -> Stored:
        return Stored(self.stored_document(model_instance))

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if isinstance(value, Stored):
            return super().get_db_prep_save(value.document, connection)
        if hasattr(value, "resolve_expression"):
            return super().get_db_prep_save(value, connection)
        return super().get_db_prep_save(self.sealed(value), connection)  # no row known: sealed, to be safe

    def json_for_write(self, value: Any) -> str | None:
        """The column's JSON text for bulk writers that bypass the ORM (COPY, ``UPDATE … FROM VALUES``)."""
        document = value.document if isinstance(value, Stored) else self.sealed(value)
        return None if document is None else jsontext.text(document, self.encoder)

    # --- reading ------------------------------------------------------------------------------
    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return self.unsealed(super().from_db_value(value, expression, connection))

    def to_python(self, value: Any) -> Any:
        """Deserialised (``loaddata``) documents arrive sealed: opened like a database read."""
        return self.unsealed(super().to_python(value))

    def value_to_string(self, obj: models.Model) -> Any:
        """Serialised (``dumpdata``) as the column holds it: sealed documents stay sealed."""
        return self.stored_document(obj)

    # --- key rotation -------------------------------------------------------------------------
    def rotate_stored(self, stored: str) -> str:
        return self.rotate_in_row(stored, {})

    def rotate_in_row(self, stored: str, row: dict[str, object]) -> str:
        """Re-encrypt sealed parts; seal a plain document of a domain with sensitive fields (data from before)."""
        document = json.loads(stored) if isinstance(stored, str) else stored
        must_seal = domain_seals(row.get(self.rotation_columns[0])) if row else False  # type: ignore[arg-type]

        def rotated(part: Any) -> Any:
            if is_sealed(part):
                return seal(_rotate_nested(open_sealed(part)), self.encoder)
            part = _rotate_nested(part)
            return seal(part, self.encoder) if must_seal and part is not None else part

        if self.items_key is not None and isinstance(document, list):
            key = self.items_key
            new = [
                {**item, key: rotated(item[key])} if isinstance(item, dict) and key in item else item
                for item in document
            ]
        else:
            new = rotated(document)
        if new == document:
            return stored
        return json.dumps(new, cls=self.encoder)

    def open_stored(self, stored: str) -> str:
        """The column text with every sealed part opened (migrating back to plain JSON)."""
        document = json.loads(stored) if isinstance(stored, str) else stored
        opened = self.unsealed(document)
        return stored if opened == document else json.dumps(opened, cls=self.encoder)


class SealedTextField(EncryptedColumn, models.TextField):
    """Free text (a page body that was not JSON) sealed as ``sealed:<Fernet token>`` when the row's domain has
    sensitive fields; plain otherwise. Decided like :class:`SealedJSONField`, from ``domain_field``.
    """

    description = "Text sealed with the hub's key ring for domains with sensitive fields"
    PREFIX = "sealed:"

    def __init__(self, *args: Any, domain_field: str = "domain", **kwargs: Any) -> None:
        self.domain_field = domain_field
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.domain_field != "domain":
            kwargs["domain_field"] = self.domain_field
        return name, path, args, kwargs

    @property
    def rotation_columns(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.model._meta.get_field(self.domain_field).column,)

    def sealed(self, value: Any) -> Any:
        if not value or str(value).startswith(self.PREFIX):
            return value
        return self.PREFIX + fernet().encrypt(str(value).encode("utf-8")).decode("ascii")

    def seals(self, instance: models.Model) -> bool:
        return domain_seals(instance.__dict__.get(self.model._meta.get_field(self.domain_field).attname))

    def pre_save(self, model_instance: models.Model, add: bool) -> Stored:
        value = getattr(model_instance, self.attname)
        return Stored(self.sealed(value) if self.seals(model_instance) else value)

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if isinstance(value, Stored):
            return super().get_db_prep_save(value.document, connection)
        if hasattr(value, "resolve_expression"):
            return super().get_db_prep_save(value, connection)
        return super().get_db_prep_save(self.sealed(value), connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not isinstance(value, str) or not value.startswith(self.PREFIX):
            return value
        try:
            return fernet().decrypt(value[len(self.PREFIX) :].encode("ascii")).decode("utf-8")
        except InvalidToken:
            return value

    def value_to_string(self, obj: models.Model) -> Any:
        return self.pre_save(obj, add=False).document

    def rotate_stored(self, stored: str) -> str:
        return self.rotate_in_row(stored, {})

    def rotate_in_row(self, stored: str, row: dict[str, object]) -> str:
        if stored.startswith(self.PREFIX):
            token = fernet().rotate(stored[len(self.PREFIX) :].encode("ascii"))
            return self.PREFIX + token.decode("ascii")
        must_seal = domain_seals(row.get(self.rotation_columns[0])) if row else False  # type: ignore[arg-type]
        return self.sealed(stored) if must_seal else stored

    def open_stored(self, stored: str) -> str:
        return self.from_db_value(stored, None, None)


def _rotate_nested(value: Any) -> Any:
    """Sensitive values kept in their column form inside a document (merge snapshots) rotated too."""
    if isinstance(value, dict):
        return {key: _rotate_nested(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rotate_nested(item) for item in value]
    if isinstance(value, str) and is_stored_form(value):
        return rotate_stored(value)
    return value


class SealedQuerySet(models.QuerySet):
    """``update`` and ``bulk_update`` that seal :class:`SealedJSONField` columns by each row's domain."""

    def _sealed_fields(self, names: Any) -> list[SealedJSONField | SealedTextField]:
        fields = [self.model._meta.get_field(name) for name in names]
        return [f for f in fields if isinstance(f, SealedJSONField | SealedTextField)]

    def update(self, **kwargs: Any) -> int:
        sealed = [f for f in self._sealed_fields(kwargs) if not hasattr(kwargs[f.name], "resolve_expression")]
        if not sealed:
            return super().update(**kwargs)
        domain_field = sealed[0].domain_field
        plain = [d for d in self.order_by().values_list(domain_field, flat=True).distinct() if not domain_seals(d)]
        count = 0
        if plain:  # the same value for every row: plain where the domain allows, sealed elsewhere
            values = {**kwargs, **{f.name: Stored(kwargs[f.name]) for f in sealed}}
            count += models.QuerySet.update(self.filter(**{f"{domain_field}__in": plain}), **values)
        values = {**kwargs, **{f.name: Stored(f.sealed(kwargs[f.name])) for f in sealed}}
        return count + models.QuerySet.update(self.exclude(**{f"{domain_field}__in": plain}), **values)

    update.alters_data = True  # type: ignore[attr-defined]

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        objs = list(objs)
        sealed = self._sealed_fields(fields)
        if not sealed:
            return super().bulk_update(objs, fields, batch_size=batch_size)
        kept = [(obj, f, obj.__dict__.get(f.attname)) for obj in objs for f in sealed]
        try:
            for obj, f, _ in kept:  # an expression is written as it is: the row's own decision
                obj.__dict__[f.attname] = models.Value(f.pre_save(obj, add=False), output_field=f)
            return super().bulk_update(objs, fields, batch_size=batch_size)
        finally:
            for obj, f, value in kept:
                obj.__dict__[f.attname] = value

    bulk_update.alters_data = True  # type: ignore[attr-defined]
