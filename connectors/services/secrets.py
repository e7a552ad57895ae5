"""Key rotation for connection secrets (see :mod:`connectors.crypto`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from connectors.crypto import Secret
from connectors.models import Connection
from masterdata.services import keys

SECRET_FIELDS = ("secret", "client_secret")


@dataclass
class RotationResult:
    rotated: int = 0
    """Encrypted secrets re-encrypted under the current key."""
    undecryptable: list[int] = field(default_factory=list)
    """Ids of connections with a secret no configured key opens (left as they are)."""


def rotate_connection_secrets(batch_size: int = 500, *, actor: Any = None, actor_label: str = "") -> RotationResult:
    """Re-encrypt every encrypted secret under the first key of ``MDM_ENCRYPTION_KEYS``, audited.

    Why: after a new key is put first, old ciphertexts still open through the older keys
    (MultiFernet), but the old keys can only be removed once nothing needs them.
    References (``${ENV:NAME}``) and blanks are not encrypted and are left alone.
    """
    result = RotationResult()
    rotated = dict.fromkeys(SECRET_FIELDS, 0)
    with transaction.atomic():
        pending: list[Connection] = []
        queryset = Connection.objects.select_for_update().only("id", *SECRET_FIELDS).order_by("id")
        for connection in queryset.iterator(chunk_size=batch_size):
            values: list[Secret] = [getattr(connection, name) for name in SECRET_FIELDS]
            if any(value.is_undecryptable for value in values):
                result.undecryptable.append(connection.pk)
                continue
            encrypted = [name for name, value in zip(SECRET_FIELDS, values, strict=True) if value.is_encrypted_at_rest]
            for name in encrypted:
                rotated[name] += 1
            if encrypted:
                result.rotated += len(encrypted)
                pending.append(connection)
            if len(pending) >= batch_size:
                Connection.objects.bulk_update(pending, SECRET_FIELDS)
                pending = []
        if pending:
            Connection.objects.bulk_update(pending, SECRET_FIELDS)
    table = Connection._meta.db_table
    keys.audit_rotation(
        {f"{table}.{name}": count for name, count in rotated.items()},
        {table: result.undecryptable},
        actor=actor,
        actor_label=actor_label,
    )
    return result
