"""Importing a validated config: what differs from the hub, and (unless a dry run) making the hub match.

Idempotent: only objects that differ are written, so a second import of the same file changes
nothing (and says so). All or nothing: the whole import is one transaction. Creates and
updates, never deletes: sources, mappings, push targets, rules or webhooks the file does not
name are left as they are. Defaults: a key the file leaves out takes the model's default —
except secrets, which are left as the hub holds them (an export never writes an encrypted
secret, so re-importing it must not erase one), and ``paused`` (an operator's pause stands until
a file says otherwise). Secrets never appear in the diff or the log, only that they changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone

from connectors.models import Connection, Mapping, PushTarget, WebhookSubscription
from connectors.services.config import (
    CONNECTION_KEYS,
    DOMAIN_KEYS,
    KEPT_WHEN_LEFT_OUT,
    MAPPING_KEYS,
    PUSH_KEYS,
    SECRET_KEYS,
    SOURCE_KEYS,
    WEBHOOK_KEYS,
    at,
    path_text,
)
from masterdata.models import AuditAction, SourceDomain, SourceSystem, SurvivorshipRule
from masterdata.models.governance import ANY_FIELD
from masterdata.services import audit, changefeed

logger = logging.getLogger("connectors.config")
HIDDEN = "(secret, not shown)"


@dataclass
class Change:
    """One object the import creates or updates; ``fields``: YAML key → (hub's value, file's value)."""

    path: str
    what: str
    created: bool
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        if self.created:
            return [f"+ {self.path}: new {self.what}"]
        return [f"~ {at(self.path, key)}: {old!r} → {new!r}" for key, (old, new) in self.fields.items()]


@dataclass
class ImportResult:
    changes: list[Change]
    dry_run: bool

    def lines(self) -> list[str]:
        return [line for change in self.changes for line in change.lines()]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _default(model: type[models.Model], name: str) -> Any:
    return model._meta.get_field(name).get_default()


def _desired(model: type[models.Model], keys: dict[str, str], values: dict[str, Any]) -> dict[str, Any]:
    """Model field → the value the file wants (the model's default where the file says nothing)."""
    wanted = {}
    kept = KEPT_WHEN_LEFT_OUT.get(model, frozenset())
    for key, name in keys.items():
        if key in kept and key not in values:
            continue  # left out: keep the stored secret (or pause)
        wanted[name] = values[key] if key in values else _default(model, name)
    return wanted


class Importer:
    """One import: walks the document in dependency order, compares and (unless ``dry_run``) writes."""

    def __init__(self, document: dict[str, Any], *, dry_run: bool) -> None:
        self.document = document
        self.dry_run = dry_run
        self.changes: list[Change] = []

    def run(self) -> ImportResult:
        with transaction.atomic():
            sources = {s.code: s for s in SourceSystem.objects.filter(code__in=self._codes())}
            for index, values in enumerate(self.document.get("sources") or []):
                self.source(path_text(["sources", index]), values, sources)
            for index, values in enumerate(self.document.get("rules") or []):
                self.rule(path_text(["rules", index]), values, sources)
            for index, values in enumerate(self.document.get("webhooks") or []):
                self.webhook(path_text(["webhooks", index]), values)
        return ImportResult(self.changes, self.dry_run)

    def _codes(self) -> list[str]:
        return [s["code"] for s in self.document.get("sources") or []]

    # --- one object -----------------------------------------------------------------------------
    def sync(
        self,
        path: str,
        what: str,
        current: models.Model | None,
        make: type[models.Model],
        wanted: dict[str, Any],
        keys: dict[str, str],
        **identity: Any,
    ) -> models.Model | None:
        """Create ``current`` or update its differing fields; returns the row (None in a dry run of a new one)."""
        if current is None:
            self.changes.append(Change(path, what, created=True))
            if self.dry_run:
                return None
            row = make(**identity, **wanted)
            row.save()
            return row
        yaml_key = {name: key for key, name in keys.items()}
        differing = {name: value for name, value in wanted.items() if getattr(current, name) != value}
        if differing:
            shown = {
                yaml_key.get(name, name): (
                    (HIDDEN, HIDDEN)
                    if yaml_key.get(name) in SECRET_KEYS
                    else (_plain(getattr(current, name)), _plain(value))
                )
                for name, value in differing.items()
            }
            self.changes.append(Change(path, what, created=False, fields=shown))
            if not self.dry_run:
                for name, value in differing.items():
                    setattr(current, name, value)
                current.save()
        return current

    # --- sources and what hangs off them ------------------------------------------------------------
    def source(self, path: str, values: dict[str, Any], sources: dict[str, SourceSystem]) -> None:
        code = values["code"]
        wanted = _desired(SourceSystem, SOURCE_KEYS, values)
        source = self.sync(path, f"source {code}", sources.get(code), SourceSystem, wanted, SOURCE_KEYS, code=code)
        if source is not None:
            sources[code] = source
        existing = source is not None and source.pk is not None
        participations = {d.domain: d for d in source.domains.all()} if existing else {}
        for domain, participation in (values.get("domains") or {}).items():
            self.sync(
                at(at(path, "domains"), domain),
                f"participation of {code} in {domain}",
                participations.get(domain),
                SourceDomain,
                _desired(SourceDomain, DOMAIN_KEYS, participation),
                DOMAIN_KEYS,
                source=source,
                domain=domain,
            )
        if "connection" in values:
            current = Connection.objects.filter(source=source).first() if existing else None
            wanted = _desired(Connection, CONNECTION_KEYS, values["connection"])
            self.sync(at(path, "connection"), f"connection of {code}", current, Connection, wanted, CONNECTION_KEYS,
                      source=source)  # fmt: skip
        mappings = {m.domain: m for m in Mapping.objects.filter(source=source)} if existing else {}
        self.per_domain(at(path, "mappings"), values.get("mappings"), mappings, Mapping, MAPPING_KEYS, source,
                        lambda domain: f"mapping {code} → {domain}")  # fmt: skip
        targets = {t.domain: t for t in PushTarget.objects.filter(source=source)} if existing else {}
        for row in self.per_domain(at(path, "push_targets"), values.get("push_targets"), targets, PushTarget,
                                   PUSH_KEYS, source, lambda domain: f"push target {domain} → {code}"):  # fmt: skip
            self._stamp_pause(row)

    def per_domain(self, path: str, items: list[dict[str, Any]] | None, current: dict[str, Any], model: Any,
                   keys: Any, source: SourceSystem, label: Any) -> list[Any]:  # fmt: skip
        """A source's list of per-domain rows (mappings, push targets), each matched by its domain."""
        rows = []
        for index, item in enumerate(items or []):
            domain = item["domain"]
            rows.append(self.sync(at(path, index), label(domain), current.get(domain), model,
                                  _desired(model, keys, item), keys, source=source, domain=domain))  # fmt: skip
        return rows

    def webhook(self, path: str, values: dict[str, Any]) -> None:
        """A webhook subscription by name; ``start`` (beginning | now) says where a new one reads from."""
        name = values["name"]
        wanted = _desired(WebhookSubscription, WEBHOOK_KEYS, values)
        wanted["owner"] = get_user_model()._default_manager.get(username=values["owner"])
        current = WebhookSubscription.objects.select_related("owner").filter(name=name).first()
        start = changefeed.start_position() if values.get("start") == "now" and current is None else ""
        keys = {**WEBHOOK_KEYS, "owner": "owner"}
        self.sync(path, f"webhook {name}", current, WebhookSubscription, wanted, keys, name=name, position=start)

    def _stamp_pause(self, target: PushTarget | None) -> None:
        """A push target paused or resumed by the file is stamped as one from the admin would be."""
        if self.dry_run or target is None:
            return
        rows = PushTarget.objects.filter(pk=target.pk)
        if target.paused and target.paused_at is None:
            rows.update(paused_at=timezone.now(), paused_reason="paused by a config import")
        elif not target.paused and target.paused_at is not None:
            rows.update(paused_at=None, paused_reason="")

    def rule(self, path: str, values: dict[str, Any], sources: dict[str, SourceSystem]) -> None:
        """Rules are compared by the source's code, so a dry run needs no saved source."""
        domain, name = values["domain"], values.get("field", ANY_FIELD)
        system = values.get("system_of_record")
        current = SurvivorshipRule.objects.select_related("system_of_record").filter(domain=domain, field=name).first()
        what = f"rule {domain}.{name}"
        if current is None:
            self.changes.append(Change(path, what, created=True))
        else:
            shown = {}
            if current.strategy != values["strategy"]:
                shown["strategy"] = (current.strategy, values["strategy"])
            if _code(current.system_of_record) != system:
                shown["system_of_record"] = (_code(current.system_of_record), system)
            if not shown:
                return
            self.changes.append(Change(path, what, created=False, fields=shown))
        if self.dry_run:
            return
        row = current or SurvivorshipRule(domain=domain, field=name)
        row.strategy = values["strategy"]
        row.system_of_record = (sources.get(system) or SourceSystem.objects.get(code=system)) if system else None
        row.save()


def _code(source: SourceSystem | None) -> str | None:
    return source.code if source is not None else None


def _plain(value: Any) -> Any:
    """A model value as the file would write it (sources by code, users by name, secrets never)."""
    if isinstance(value, SourceSystem):
        return value.code
    if isinstance(value, get_user_model()):
        return value.get_username()
    return value


def apply(document: dict[str, Any], *, dry_run: bool = False, origin: str = "config") -> ImportResult:
    """Make the hub match a validated document (see :func:`connectors.services.config.load`)."""
    result = Importer(document, dry_run=dry_run).run()
    if dry_run:
        return result
    if not result.changed:  # nothing changed, nothing to audit: a repeated import (seed_demo's) writes nothing
        logger.info("config import from %s: no changes", origin)
        return result
    logger.info("config import from %s: %d changes", origin, len(result.changes))
    for line in result.lines():
        logger.info("config import from %s: %s", origin, line)
    audit.record(
        AuditAction.CONFIG_IMPORTED,
        detail={"origin": origin, "changes": len(result.changes), "paths": [c.path for c in result.changes][:200]},
    )
    return result
