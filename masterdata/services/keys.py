"""Key rotation: re-encrypt every encrypted column of every model under the current keys.

Why generic: encrypted columns live in several apps (connection and webhook secrets in
``connectors``, sensitive golden fields and their history in ``masterdata``); each such field is
an :class:`masterdata.crypto.EncryptedColumn`, so this finds them all without naming them, and a
column added tomorrow is rotated too. Values are read and written as stored (raw SQL): nothing
is decrypted into a model instance on the way.

After ``MDM_ENCRYPTION_KEYS`` gets a new first key, old values still open through the older keys;
once this has run, the old keys can be removed. It also recomputes every blind index, which is
what a new ``MDM_BLIND_INDEX_KEY`` needs. Running it twice is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.db import connection, models, transaction

from masterdata.crypto import EncryptedColumn
from masterdata.models import AuditAction
from masterdata.services import audit

BATCH = 500


@dataclass
class ColumnReport:
    label: str
    rotated: int = 0
    undecryptable: list[Any] = field(default_factory=list)
    """Primary keys of rows whose value no configured key opens (left as they are)."""


@dataclass
class RotationReport:
    columns: list[ColumnReport] = field(default_factory=list)

    @property
    def rotated(self) -> int:
        return sum(c.rotated for c in self.columns)

    @property
    def undecryptable(self) -> int:
        return sum(len(c.undecryptable) for c in self.columns)


def encrypted_columns() -> Iterator[tuple[type[models.Model], list[models.Field]]]:
    """Every concrete model with encrypted columns, history models included."""
    for model in apps.get_models():
        opts = model._meta
        if opts.proxy or not opts.managed:
            continue
        fields = [f for f in opts.local_concrete_fields if isinstance(f, EncryptedColumn)]
        if fields:
            yield model, fields


def rotate_all(*, actor: Any = None, actor_label: str = "") -> RotationReport:
    """Rotate every encrypted column (one transaction per table) and audit the outcome."""
    report = RotationReport()
    for model, fields in encrypted_columns():
        report.columns.extend(_rotate_table(model, fields))
    audit_rotation(
        {c.label: c.rotated for c in report.columns},
        {c.label: c.undecryptable for c in report.columns},
        actor=actor,
        actor_label=actor_label,
    )
    return report


def audit_rotation(
    rotated: dict[str, int], undecryptable: dict[str, list[Any]], *, actor: Any = None, actor_label: str = ""
) -> None:
    """One ``keys.rotated`` event: values re-encrypted per column, and the rows no key opens (up to 100 per place)."""
    audit.record(
        AuditAction.KEYS_ROTATED,
        actor=actor,
        actor_label=actor_label,
        detail={
            "rotated": sum(rotated.values()),
            "columns": rotated,
            "undecryptable": {place: [str(pk) for pk in pks[:100]] for place, pks in undecryptable.items() if pks},
        },
    )


def _rotate_table(model: type[models.Model], fields: list[models.Field], opening: bool = False) -> list[ColumnReport]:
    quote = connection.ops.quote_name
    table, pk = model._meta.db_table, model._meta.pk.column
    reports = [ColumnReport(f"{table}.{f.column}") for f in fields]
    context = sorted({name for f in fields for name in f.rotation_columns})
    columns = ", ".join(quote(name) for name in [*(f.column for f in fields), *context])
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    select = f"SELECT {quote(pk)}, {columns} FROM {quote(table)} WHERE {quote(pk)} > %s ORDER BY {quote(pk)} LIMIT %s"
    update = f"UPDATE {quote(table)} SET {', '.join(f'{quote(f.column)} = %s' for f in fields)} WHERE {quote(pk)} = %s"
    with transaction.atomic(), connection.cursor() as cursor:
        last: Any = _lowest(model)
        while True:
            cursor.execute(select + lock, [last, BATCH])
            rows = cursor.fetchall()
            if not rows:
                break
            changes = []
            for key, *values in rows:
                stored, row = values[: len(fields)], dict(zip(context, values[len(fields) :], strict=True))
                pairs = zip(fields, stored, reports, strict=True)
                new = [_rotated(f, value, key, r, row, opening) for f, value, r in pairs]
                if new != stored:
                    changes.append([*new, key])
            if changes:
                cursor.executemany(update, changes)
            last = rows[-1][0]
    return reports


def _rotated(
    f: models.Field, stored: str | None, key: Any, report: ColumnReport, row: dict[str, Any], opening: bool = False
) -> str | None:
    if not stored:
        return stored
    try:
        new = f.open_stored(stored) if opening else f.rotate_in_row(stored, row)
    except InvalidToken:
        report.undecryptable.append(key)
        return stored
    if new != stored:
        report.rotated += 1
    return new


def seal_existing(apps_registry: Any, app_label: str, *, opening: bool = False) -> None:
    """Seal the documents of an app's sealed JSON columns stored in clear (run by a data migration).

    The migration's models are used, so it works on the schema of its time; rows already sealed
    are re-encrypted under the first key, which is harmless. ``opening``: the reverse, every
    sealed document written back in clear (to migrate back to plain JSON columns).
    """
    for model in apps_registry.get_app_config(app_label).get_models():
        fields = [f for f in model._meta.local_concrete_fields if getattr(f, "rotation_columns", None)]
        if fields:
            _rotate_table(model, fields, opening)


def _lowest(model: type[models.Model]) -> Any:
    """A key below every primary key of the table (integer keys; text keys start from '')."""
    return -1 if isinstance(model._meta.pk, models.IntegerField | models.AutoField) else ""
