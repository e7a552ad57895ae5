"""Exporting the integration config as YAML, in the shape :mod:`connectors.services.config` reads.

What the export writes imports back to no change (export → import → export gives the same
file). Keys holding the model's default are left out, so the file says only what was decided.
Secrets — of connections and of webhooks — are never written in clear: a ``${ENV:NAME}``
reference is written as it is, and an encrypted secret is left out (import then keeps it) with a
comment at the top naming the reference to write instead if the file should carry it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from django.db import models

from connectors.crypto import Secret
from connectors.models import Connection, Mapping, PushTarget, WebhookSubscription
from connectors.services.config import (
    CONNECTION_KEYS,
    MAPPING_KEYS,
    PUSH_KEYS,
    SECRET_KEYS,
    SOURCE_KEYS,
    VERSION,
    WEBHOOK_KEYS,
    path_text,
)
from masterdata.models import SourceSystem, SurvivorshipRule
from masterdata.models.governance import ANY_FIELD

HEADER = (
    "# Integration config of the MDM hub: sources, connections, mappings and schedules, push targets,\n"
    "# survivorship rules and webhooks.\n"
    "# Written by `manage.py export_config`; `manage.py import_config FILE [--dry-run]` reads it back.\n"
)


def _is_default(model: type[models.Model], name: str, value: Any) -> bool:
    return value == model._meta.get_field(name).get_default()


def _non_default(model: type[models.Model], keys: dict[str, str], row: models.Model) -> dict[str, Any]:
    return {key: getattr(row, name) for key, name in keys.items() if not _is_default(model, name, getattr(row, name))}


def _connection(connection: Connection, path: str, kept: list[str]) -> dict[str, Any]:
    values = _non_default(Connection, {k: v for k, v in CONNECTION_KEYS.items() if k not in SECRET_KEYS}, connection)
    values = {"protocol": connection.protocol, "base_url": connection.base_url, **values}
    for key in SECRET_KEYS:
        _secret(values, key, getattr(connection, key), f"{connection.source.code}_{key}", f"{path}.{key}", kept)
    return values


def _secret(values: dict[str, Any], key: str, secret: Secret, owner: str, path: str, kept: list[str]) -> None:
    """A reference goes into the file as it is; an encrypted secret is left out and noted at the top."""
    if secret.is_reference:
        values[key] = f"${{ENV:{secret.reference_name}}}"
    elif secret.is_set:
        name = re.sub(r"[^A-Z0-9_]", "_", owner.upper())
        kept.append(f"{path} — stored encrypted, not exported; to manage it here write ${{ENV:{name}}}")


def _push_target(target: PushTarget) -> dict[str, Any]:
    values = _non_default(PushTarget, PUSH_KEYS, target)
    values.setdefault("fields", target.field_map)
    first = {"domain": target.domain, "resource": target.resource, "key_field": target.key_field}
    return {**first, **{key: values[key] for key in PUSH_KEYS if key in values and key not in first}}


def _webhook(subscription: WebhookSubscription, path: str, kept: list[str]) -> dict[str, Any]:
    values = _non_default(WebhookSubscription, {k: v for k, v in WEBHOOK_KEYS.items() if k != "secret"}, subscription)
    entry = {"name": subscription.name, "url": subscription.url, "owner": subscription.owner.get_username()}
    entry.update({key: values[key] for key in WEBHOOK_KEYS if key in values and key != "url"})
    _secret(entry, "secret", subscription.secret, f"webhook_{subscription.name}_secret", f"{path}.secret", kept)
    return entry


def _mapping(mapping: Mapping) -> dict[str, Any]:
    values = _non_default(Mapping, MAPPING_KEYS, mapping)
    for required in ("fetch", "fields"):
        values.setdefault(required, getattr(mapping, MAPPING_KEYS[required]))
    return {"domain": mapping.domain, **{key: values[key] for key in MAPPING_KEYS if key in values}}


def build() -> tuple[dict[str, Any], list[str]]:
    """(the document, notes on encrypted secrets left out)."""
    kept: list[str] = []
    sources = []
    queryset = SourceSystem.objects.prefetch_related("domains", "mappings", "push_targets").select_related("connection")
    for index, source in enumerate(queryset.order_by("code")):
        path = path_text(["sources", index])
        entry: dict[str, Any] = {"code": source.code, "name": source.name}
        entry.update({k: v for k, v in _non_default(SourceSystem, SOURCE_KEYS, source).items() if k != "name"})
        domains = {}
        for participation in sorted(source.domains.all(), key=lambda d: d.domain):
            domains[participation.domain] = {"direction": participation.direction, "trust": participation.trust_rank}
            if participation.field_trust:
                domains[participation.domain]["field_trust"] = dict(sorted(participation.field_trust.items()))
        if domains:
            entry["domains"] = domains
        connection = getattr(source, "connection", None)
        if connection is not None:
            entry["connection"] = _connection(connection, f"{path}.connection", kept)
        mappings = sorted(source.mappings.all(), key=lambda m: m.domain)
        if mappings:
            entry["mappings"] = [_mapping(mapping) for mapping in mappings]
        targets = sorted(source.push_targets.all(), key=lambda t: t.domain)
        if targets:
            entry["push_targets"] = [_push_target(target) for target in targets]
        sources.append(entry)
    rules = []
    for rule in SurvivorshipRule.objects.select_related("system_of_record").order_by("domain", "field"):
        item: dict[str, Any] = {"domain": rule.domain}
        if rule.field != ANY_FIELD:
            item["field"] = rule.field
        item["strategy"] = rule.strategy
        if rule.system_of_record is not None:
            item["system_of_record"] = rule.system_of_record.code
        rules.append(item)
    webhooks = [
        _webhook(subscription, path_text(["webhooks", index]), kept)
        for index, subscription in enumerate(WebhookSubscription.objects.select_related("owner").order_by("name"))
    ]
    document: dict[str, Any] = {"version": VERSION, "sources": sources, "rules": rules}
    if webhooks:
        document["webhooks"] = webhooks
    return document, kept


def export_text() -> str:
    """The whole integration config as YAML text."""
    document, kept = build()
    notes = "".join(f"#   {note}\n" for note in kept)
    if notes:
        notes = "# Secrets kept in the hub (an import leaves them as they are):\n" + notes
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=110)
    return HEADER + notes + body
