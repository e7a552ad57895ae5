"""Who may read sensitive fields in clear, how they are masked otherwise, and their audited reveals.

A field is sensitive when its domain's registry entry lists it (``Domain.sensitive_fields``).
Its value shows in clear only to a user holding the ``view_sensitive`` scope on the record's
org unit (or group-wide); everyone else sees ``••••1234`` (the last four characters of values
long enough that four say little). Every time clear values are handed out — a reveal, or an API
answer to an authorised user — one audit event names the records and fields. The steward
screens mask even for authorised users until they press Reveal (``masterdata.admin.sensitive``).

At rest, the values are encrypted in the record's columns (:class:`masterdata.fields.SensitiveField`)
and every document that may copy them — payloads, conflict values, snapshots — is sealed
(:class:`masterdata.fields.SealedJSONField`).

A masked value sent back unchanged (a client that PUTs what it read) means "keep the value";
any other text with the mask character is refused rather than stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from masterdata.crypto import normalise_for_index
from masterdata.models import AuditAction, GoldenRecord
from masterdata.registry import Domain, registry
from masterdata.services import access, audit
from masterdata.services.golden import GoldenRecordError, OutOfScope

MASK_CHAR = "•"
MASK = MASK_CHAR * 4
#: Values shorter than this are masked whole: their last four characters would give most of them away.
SHOW_TAIL_FROM = 8
UNDECRYPTABLE = "(undecryptable: the key is missing)"
#: At most this many record ids are listed in one audit event (the count is always exact).
AUDIT_ID_LIMIT = 200


def mask(value: Any) -> Any:
    """``••••1234``; blanks and None stay as they are (whether a value is set is not secret)."""
    if value is None or value == "":
        if getattr(value, "stored", None):  # an Undecryptable value: set, but unreadable
            return UNDECRYPTABLE
        return value
    text = str(value)
    if len(text) < SHOW_TAIL_FROM:
        return MASK
    return MASK + text[-4:]


def is_masked(value: Any) -> bool:
    return isinstance(value, str) and MASK_CHAR in value


class SensitiveScope:
    """A user's ``view_sensitive`` reach, read from the database once and then asked per record."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self._global: bool | None = None
        self._units: frozenset[int] | None = None

    @property
    def is_global(self) -> bool:
        if self._global is None:
            self._global = bool(self.user) and access.has_global_scope(self.user, "view_sensitive")
        return self._global

    @property
    def units(self) -> frozenset[int]:
        if self._units is None:
            rows = access.granted_unit_ids(self.user, "view_sensitive") if self.user else []
            self._units = frozenset(row["descendant_id"] for row in rows)
        return self._units

    def allows(self, domain: Domain, record: Any) -> bool:
        """May the user read ``record``'s sensitive fields in clear?"""
        if not domain.sensitive_fields:
            return True
        if self.is_global:
            return True
        if domain.org_field is None:
            return False
        unit = access.org_unit_of(domain, record)
        return unit is not None and unit in self.units


def scope_for(request: Any) -> SensitiveScope:
    """The request user's scope, computed once per request however many records are shown."""
    scope = getattr(request, "_mdm_sensitive_scope", None)
    if scope is None:
        user = getattr(request, "user", None)
        scope = SensitiveScope(user if getattr(user, "is_authenticated", False) else None)
        request._mdm_sensitive_scope = scope
    return scope


def masked_values(domain: Domain, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the domain's sensitive fields masked."""
    return {name: mask(value) if name in domain.sensitive_fields else value for name, value in values.items()}


def current_values(record: GoldenRecord) -> dict[str, str]:
    domain = registry.for_model(type(record))
    return {name: getattr(record, name) for name in domain.sensitive_fields}


def audit_reveal(
    domain: Domain,
    records: Iterable[Any],
    fields: Iterable[str],
    *,
    via: str,
    user: Any = None,
    request: Any = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """One audit event for clear values handed to a user (a reveal, a page of records, a history)."""
    records = list(records)
    if not records:
        return
    ids = [record.pk for record in records]
    single = records[0] if len(records) == 1 else None
    audit.record(
        AuditAction.SENSITIVE_REVEALED,
        actor=user,
        request=request,
        object_type=domain.model_class._meta.label_lower,
        object_id=single.pk if single is not None else "",
        org_unit_id=access.org_unit_of(domain, single) if single is not None else None,
        detail={"domain": domain.name, "fields": sorted(fields), "via": via, "count": len(ids),
                "ids": ids[:AUDIT_ID_LIMIT], **(extra or {})},
    )  # fmt: skip


def reveal(user: Any, record: GoldenRecord, *, via: str, request: Any = None) -> dict[str, str]:
    """The clear sensitive values of ``record`` for an authorised user, audited; refused otherwise."""
    domain = registry.for_model(type(record))
    if not domain.sensitive_fields:
        return {}
    if not access.can_act_on(user, record, "view_sensitive"):
        raise OutOfScope("You may not reveal sensitive fields of records of this org unit.")
    values = current_values(record)
    audit_reveal(domain, [record], values, via=via, user=user, request=request)
    return {name: mask(value) if getattr(value, "stored", None) else value for name, value in values.items()}


def keep_unchanged(domain: Domain, record: GoldenRecord | None, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without sensitive fields that carry the masked form of their current value.

    Why: a client (or form) that sends back what it was shown must not overwrite the real
    value with its mask. Other masked text cannot be a real value and is refused.
    """
    result = dict(data)
    for name in domain.sensitive_fields:
        if name not in result or not is_masked(result[name]):
            continue
        if record is not None and not record._state.adding and result[name] == mask(getattr(record, name)):
            del result[name]
        else:
            raise GoldenRecordError("Send the full value, not its masked form.", field=name)
    return result


def check_change(user: Any, record: GoldenRecord, data: dict[str, Any]) -> None:
    """Only a user who may read a sensitive field may change it (a bank account swapped blind is fraud).

    Creating a record with the value is allowed: the creator supplies it.
    """
    if user is None or record._state.adding:
        return
    domain = registry.for_model(type(record))
    changed = [n for n in domain.sensitive_fields if n in data and data[n] != getattr(record, n)]
    if changed and not access.can_act_on(user, record, "view_sensitive"):
        raise OutOfScope("You may not change sensitive fields of records of this org unit.", field=changed[0])


#: Payload keys that carry sensitive values whatever the domain (compared without case and punctuation).
SENSITIVE_KEY_NAMES = frozenset({"iban", "bankaccount", "accountnumber", "nationalid", "idnumber", "ssn", "personalid"})
_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def _key_name(key: Any) -> str:
    return _NOT_ALNUM.sub("", str(key).lower())


def masked_payload(payload: Any, domain: Domain | None, known_values: Iterable[str] = ()) -> Any:
    """A source payload with sensitive values masked, under whatever names the source gives them.

    A value is hidden when its key names a sensitive field (the domain's, or a common name such
    as ``IBAN``) or when it equals one of ``known_values`` (the record's current sensitive values).
    """
    names = set(SENSITIVE_KEY_NAMES)
    if domain is not None:
        names |= {_key_name(name) for name in domain.sensitive_fields}
    known = {normalise_for_index(str(v)) for v in known_values if v}

    def walk(value: Any, key: Any = None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(item, key) for item in value]
        if value in (None, "") or is_masked(value):
            return value
        if (key is not None and _key_name(key) in names) or normalise_for_index(str(value)) in known:
            return mask(value)
        return value

    return walk(payload)
