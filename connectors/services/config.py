"""Integration config as code: the YAML file's shape and its validation, every problem with its path.

One file describes the integration landscape (``examples/integration.yaml`` is a full one)::

    version: 1
    sources:                       # source systems, by code
      - code: crm
        name: Sales CRM
        kind: crm                  # erp | crm | hr | other
        active: true
        domains:                   # how it takes part in each domain (SourceDomain)
          customer: {direction: both, trust: 60, field_trust: {email: 85}}
        connection:                # how the hub reaches it (Connection); optional for sources that only post
          protocol: rest
          base_url: https://crm.example.com
          auth_type: bearer
          secret: ${ENV:CRM_TOKEN} # secrets by reference only, see below
        mappings:                  # what is read and how it maps (Mapping), with its schedules
          - domain: customer
            fetch: {resource: /api/customers, record_path: data, key_field: id, pagination: page}
            fields: {id: code, name: name, credit_score: credit_rating}
            schedule: "*/15 * * * *"
        push_targets:              # what the hub pushes to it (PushTarget), one per domain
          - domain: customer
            resource: /api/customers
            key_field: id
            lookup_field: code
            fields: {code: code, name: name, email: email}
    rules:                         # survivorship rules
      - {domain: customer, field: credit_rating, strategy: system_of_record, system_of_record: erp}
    webhooks:                      # signed change-event batches to a consumer (WebhookSubscription)
      - name: data-lake
        url: https://lake.example.com/mdm-events
        owner: integration         # an existing user: the webhook sends what that user may view
        domains: [customer]
        secret: ${ENV:LAKE_WEBHOOK_SECRET}

Secrets (``secret``, ``client_secret``; a webhook's ``secret``) are written as ``${ENV:NAME}``
references, resolved from the environment when used. A secret in clear text is refused unless
the import is told to accept it (``--allow-plaintext-secrets``), and then it is stored encrypted,
never in clear. A secret the file leaves out is left as the hub holds it — and so is ``paused``
of a push target or webhook (an operator's pause is not undone by a file that says nothing).

Why JSON Schema (the ``jsonschema`` package) plus hand-written checks: the schema catches the
shape (keys, types, choices) with the path of each problem; what only the hub knows — golden
fields of a domain, a field map's entries, crontab expressions, a connection's required
settings per auth type — is checked by the same code the admin uses, and its messages are given
the same kind of path: ``sources[1].mappings[0].fields[3].target: unknown golden field
'credit_scor' of customer``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from jsonschema import Draft202012Validator

from connectors.crypto import REFERENCE_RE
from connectors.errors import ConfigurationError
from connectors.models import AuthType, Connection, Protocol, PushTarget, WebhookSubscription
from connectors.models import Mapping as MappingModel
from connectors.protocols.base import FetchSpec
from connectors.services.mapping import _entry_errors as field_entry_errors  # the admin's own entry checks
from connectors.services.mapping import is_valid_path, normalise_field_map
from connectors.services.outbound import validate_push_map
from masterdata.models import SourceDomain, SourceKind, SourceSystem, SurvivorshipStrategy, SyncDirection
from masterdata.models.governance import ANY_FIELD
from masterdata.registry import registry

VERSION = 1
SECRET_KEYS = ("secret", "client_secret")
#: YAML key → model field, per kind of object (keys not listed are named as the model names them).
SOURCE_KEYS = {"name": "name", "kind": "kind", "description": "description", "active": "is_active"}
DOMAIN_KEYS = {"direction": "direction", "trust": "trust_rank", "field_trust": "field_trust"}
CONNECTION_KEYS = {
    name: name
    for name in (
        "protocol", "base_url", "auth_type", "username", "secret", "token_url", "client_id", "client_secret", "scope",
        "api_key_header", "timeout_seconds", "page_size", "rate_limit_per_second", "verify_tls", "options",
    )
}  # fmt: skip
MAPPING_KEYS = {
    "active": "is_active",
    "fetch": "fetch_spec",
    "source_key": "source_key",
    "fields": "field_map",
    "keep_unmapped": "keep_unmapped",
    "auto_link_score": "auto_link_score",
    "schedule": "schedule",
    "reconcile_schedule": "reconcile_schedule",
}
PUSH_KEYS = {
    "resource": "resource",
    "key_field": "key_field",
    "lookup_field": "lookup_field",
    "fields": "field_map",
    "options": "options",
    "bulk": "bulk",
    "max_attempts": "max_attempts",
    "batch_size": "batch_size",
    "paused": "paused",
}
WEBHOOK_KEYS = {
    "url": "url",
    "domains": "domains",
    "secret": "secret",
    "active": "is_active",
    "paused": "paused",
    "batch_size": "batch_size",
    "max_attempts": "max_attempts",
    "timeout_seconds": "timeout_seconds",
}
#: Keys a file may leave out to keep what the hub holds (per model): secrets, and an operator's pause.
KEPT_WHEN_LEFT_OUT: dict[type, frozenset[str]] = {
    Connection: frozenset(SECRET_KEYS),
    PushTarget: frozenset({"paused"}),
    WebhookSubscription: frozenset({"secret", "paused"}),
}
WEBHOOK_STARTS = ("beginning", "now")
_PUSH_ENTRY = re.compile(r"^entry (\d+)(?: \([^)]*\))?: (.*)$", re.DOTALL)


class ConfigError(Exception):
    """The file cannot be imported; ``problems`` lists every one, each starting with its YAML path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# --- paths ----------------------------------------------------------------------------------
def path_text(parts: Iterable[str | int]) -> str:
    """``["sources", 1, "mappings", 0]`` → ``sources[1].mappings[0]``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top)"


def at(path: str, key: str | int) -> str:
    """A path one step further: ``at("sources[0]", "connection")`` → ``sources[0].connection``."""
    return path_text([path, key])


# --- the shape ------------------------------------------------------------------------------
def _string(**extra: Any) -> dict[str, Any]:
    return {"type": "string", **extra}


def schema() -> dict[str, Any]:
    """The JSON Schema of a config file (domains and choices come from the registry and the models)."""
    domains = [d.name for d in registry]
    nullable_number = {"type": ["number", "null"]}
    connection = {
        "type": "object",
        "additionalProperties": False,
        "required": ["protocol", "base_url"],
        "properties": {
            "protocol": {"enum": list(Protocol.values)},
            "base_url": _string(minLength=1),
            "auth_type": {"enum": list(AuthType.values)},
            "username": _string(),
            "secret": _string(),
            "token_url": _string(),
            "client_id": _string(),
            "client_secret": _string(),
            "scope": _string(),
            "api_key_header": _string(),
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
            "page_size": {"type": "integer", "minimum": 1},
            "rate_limit_per_second": nullable_number,
            "verify_tls": {"type": "boolean"},
            "options": {"type": "object"},
        },
    }
    mapping = {
        "type": "object",
        "additionalProperties": False,
        "required": ["domain", "fetch", "fields"],
        "properties": {
            "domain": {"enum": domains},
            "active": {"type": "boolean"},
            "fetch": {"type": "object"},
            "source_key": _string(),
            "fields": {"type": ["array", "object"]},
            "keep_unmapped": {"type": "boolean"},
            "auto_link_score": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
            "schedule": _string(),
            "reconcile_schedule": _string(),
        },
    }
    push_target = {
        "type": "object",
        "additionalProperties": False,
        "required": ["domain", "resource", "key_field", "fields"],
        "properties": {
            "domain": {"enum": domains},
            "resource": _string(minLength=1),
            "key_field": _string(minLength=1),
            "lookup_field": _string(),
            "fields": {"type": ["array", "object"]},
            "options": {"type": "object"},
            "bulk": {"type": "object"},
            "max_attempts": {"type": ["integer", "null"], "minimum": 1, "maximum": 50},
            "batch_size": {"type": "integer", "minimum": 1},
            "paused": {"type": "boolean"},
        },
    }
    webhook = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "url", "owner"],
        "properties": {
            "name": _string(minLength=1, maxLength=120),
            "url": _string(minLength=1),
            "owner": _string(minLength=1),
            "domains": {"type": "array", "items": {"enum": domains}, "uniqueItems": True},
            "secret": _string(),
            "active": {"type": "boolean"},
            "paused": {"type": "boolean"},
            "batch_size": {"type": "integer", "minimum": 1, "maximum": 1000},
            "max_attempts": {"type": ["integer", "null"], "minimum": 1},
            "timeout_seconds": {"type": "number", "minimum": 0.1},
            "start": {"enum": list(WEBHOOK_STARTS)},
        },
    }
    rank = {"type": "integer", "minimum": 0, "maximum": 100}
    participation = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "direction": {"enum": list(SyncDirection.values)},
            "trust": rank,
            "field_trust": {"type": "object", "additionalProperties": rank},
        },
    }
    source = {
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "name"],
        "properties": {
            "code": _string(pattern=r"^[-a-zA-Z0-9_]+$", maxLength=40),
            "name": _string(minLength=1, maxLength=120),
            "kind": {"enum": list(SourceKind.values)},
            "description": _string(),
            "active": {"type": "boolean"},
            "domains": {"type": "object", "propertyNames": {"enum": domains}, "additionalProperties": participation},
            "connection": connection,
            "mappings": {"type": "array", "items": mapping},
            "push_targets": {"type": "array", "items": push_target},
        },
    }
    rule = {
        "type": "object",
        "additionalProperties": False,
        "required": ["domain", "strategy"],
        "properties": {
            "domain": {"enum": domains},
            "field": _string(minLength=1),
            "strategy": {"enum": list(SurvivorshipStrategy.values)},
            "system_of_record": _string(),
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "version": {"const": VERSION},
            "sources": {"type": "array", "items": source},
            "rules": {"type": "array", "items": rule},
            "webhooks": {"type": "array", "items": webhook},
        },
    }


# --- reading --------------------------------------------------------------------------------
def parse(text: str, name: str = "config") -> dict[str, Any]:
    """YAML text → the document (``yaml.safe_load``: no tags, no objects); syntax errors with line and column."""
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        raise ConfigError([f"{where}: not valid YAML: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{name}: not valid YAML: {exc}"]) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(["(top): the file must hold a mapping with 'sources', 'rules' and 'webhooks'"])
    return document


@dataclass
class Checker:
    """Collects every problem of one document; ``allow_plaintext`` accepts clear-text secrets."""

    document: dict[str, Any]
    allow_plaintext: bool = False

    def __post_init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def run(self) -> list[str]:
        validator = Draft202012Validator(schema())
        shape = sorted(validator.iter_errors(self.document), key=lambda e: [str(p) for p in e.absolute_path])
        for error in shape:
            self.add(path_text(error.absolute_path), error.message)
        if shape:
            return self.problems  # the checks below rely on the shape
        codes = [source["code"] for source in self.document.get("sources", [])]
        connections = Connection.objects.select_related("source").filter(source__code__in=codes)
        self.stored = {connection.source.code: connection for connection in connections}
        self._unique(codes, "sources", "code", "source code")
        self._unique([s["name"] for s in self.document.get("sources", [])], "sources", "name", "source name")
        for index, source in enumerate(self.document.get("sources", [])):
            self.source(path_text(["sources", index]), source)
        self.rules(set(codes))
        self.webhooks()
        return self.problems

    def _unique(self, values: list[Any], list_path: str, key: str, what: str) -> None:
        seen: dict[Any, int] = {}
        for index, value in enumerate(values):
            if value in seen:
                self.add(path_text([list_path, index, key]), f"{what} {value!r} again (first at [{seen[value]}])")
            seen.setdefault(value, index)

    # --- sources --------------------------------------------------------------------------------
    def source(self, path: str, source: dict[str, Any]) -> None:
        for domain, participation in (source.get("domains") or {}).items():
            self.participation(at(at(path, "domains"), domain), domain, participation)
        if "connection" in source:
            self.connection(at(path, "connection"), source["connection"], self.stored.get(source["code"]))
        mappings = source.get("mappings") or []
        self._unique([m["domain"] for m in mappings], at(path, "mappings"), "domain", "a mapping for domain")
        for index, mapping in enumerate(mappings):
            self.mapping(at(at(path, "mappings"), index), mapping)
        targets = source.get("push_targets") or []
        self._unique([t["domain"] for t in targets], at(path, "push_targets"), "domain", "a push target for domain")
        for index, target in enumerate(targets):
            self.push_target(at(at(path, "push_targets"), index), source, target)

    def participation(self, path: str, domain: str, values: dict[str, Any]) -> None:
        row = SourceDomain(domain=domain, **{DOMAIN_KEYS[k]: v for k, v in values.items()})
        self._model_errors(path, row, DOMAIN_KEYS, exclude=["source"])

    def connection(self, path: str, values: dict[str, Any], stored: Connection | None) -> None:
        for key in SECRET_KEYS:
            value = values.get(key)
            if value and not REFERENCE_RE.match(value) and not self.allow_plaintext:
                self.add(
                    at(path, key),
                    "a secret in clear text is refused: write it as ${ENV:NAME} and set NAME in the hub's "
                    "environment (or import with --allow-plaintext-secrets to store it encrypted)",
                )
        row = Connection(**{CONNECTION_KEYS[k]: v for k, v in values.items()})
        for key in SECRET_KEYS:  # left out: the hub keeps the secret it holds (if any)
            if key not in values:
                setattr(row, key, getattr(stored, key) if stored is not None else "")
        self._model_errors(path, row, CONNECTION_KEYS, exclude=["source"])

    def mapping(self, path: str, values: dict[str, Any]) -> None:
        domain = values["domain"]
        self.field_map(at(path, "fields"), domain, values["fields"])
        self.fetch(at(path, "fetch"), values["fetch"])
        source_key = values.get("source_key", "")
        if source_key and not is_valid_path(source_key):
            self.add(at(path, "source_key"), f"bad source path {source_key!r}")
        row = MappingModel(**{MAPPING_KEYS[k]: v for k, v in values.items() if k in MAPPING_KEYS}, domain=domain)
        self._model_errors(path, row, MAPPING_KEYS, exclude=["source"], skip={"field_map", "fetch_spec", "source_key"})

    def push_target(self, path: str, source: dict[str, Any], values: dict[str, Any]) -> None:
        """The push map by the admin's own checks (each problem at its entry), and the source's direction."""
        domain = values["domain"]
        fields = values["fields"]
        names = list(fields) if isinstance(fields, Mapping) else None
        for message in validate_push_map(domain, fields):
            match = _PUSH_ENTRY.match(message)
            if match is None:
                self.add(at(path, "fields"), message)
                continue
            number = int(match.group(1)) - 1
            self.add(at(at(path, "fields"), names[number] if names else number), match.group(2))
        direction = ((source.get("domains") or {}).get(domain) or {}).get("direction")
        if direction is None:
            stored = SourceDomain.objects.filter(source__code=source["code"], domain=domain).first()
            direction = stored.direction if stored is not None else None
        if direction not in (SyncDirection.PUSH, SyncDirection.BOTH):
            self.add(
                at(path, "domain"),
                f"nothing is pushed unless the source's direction for {domain} is push or both "
                f"(domains.{domain}.direction, now {direction or 'not set'})",
            )
        protocol = (source.get("connection") or {}).get("protocol")
        if protocol is None:
            stored = Connection.objects.filter(source__code=source["code"]).first()
            protocol = stored.protocol if stored is not None else None
        if values.get("bulk") and protocol not in (None, "rest"):
            self.add(at(path, "bulk"), f"bulk writes are for REST targets; this source speaks {protocol}")
        row = PushTarget(domain=domain, **{PUSH_KEYS[k]: v for k, v in values.items() if k in PUSH_KEYS})
        self._model_errors(path, row, PUSH_KEYS, exclude=["source"], skip={"field_map"})

    def fetch(self, path: str, fetch: dict[str, Any]) -> None:
        missing = [key for key in ("resource", "key_field") if not fetch.get(key)]
        for key in missing:
            what = "the entity set, endpoint, resource or file" if key == "resource" else "the path of the records' key"
            self.add(path, f"needs {key} ({what})")
        if missing:
            return
        try:
            FetchSpec.from_dict(fetch)
        except ConfigurationError as exc:
            self.add(path, exc.message.rstrip("."))
        except (TypeError, ValueError) as exc:
            self.add(path, f"not a well-formed fetch spec: {exc}")

    def field_map(self, path: str, domain: str, field_map: Any) -> None:
        known = set(registry.get(domain).field_names())
        shorthand = isinstance(field_map, Mapping)
        entries = normalise_field_map(field_map)
        targets: dict[str, str] = {}
        for index, entry in enumerate(entries):
            entry_path = at(path, entry["source"] if shorthand else index)
            if not shorthand and isinstance(entry, Mapping) and isinstance(entry.get("target"), str):
                target_path = at(entry_path, "target")
            else:
                target_path = entry_path
            for problem in field_entry_errors(entry, known, domain):
                self.add(target_path if "golden field" in problem else entry_path, problem)
            target = entry.get("target") if isinstance(entry, Mapping) else None
            if isinstance(target, str) and target:
                if target in targets:
                    self.add(target_path, f"{target!r} is already mapped at {targets[target]}")
                targets.setdefault(target, entry_path)
        key = registry.get(domain).business_key
        if key not in targets:
            self.add(path, f"the business key {key!r} of {domain} is not mapped")

    # --- rules ----------------------------------------------------------------------------------
    def rules(self, codes_in_file: set[str]) -> None:
        rules = self.document.get("rules") or []
        self._unique([f"{r['domain']}.{r.get('field', ANY_FIELD)}" for r in rules], "rules", "field", "a rule for")
        wanted = {r["system_of_record"] for r in rules if r.get("system_of_record")} - codes_in_file
        known = codes_in_file | set(SourceSystem.objects.filter(code__in=wanted).values_list("code", flat=True))
        for index, rule in enumerate(rules):
            path = path_text(["rules", index])
            field = rule.get("field", ANY_FIELD)
            if field != ANY_FIELD and field not in registry.get(rule["domain"]).field_names():
                self.add(at(path, "field"), f"unknown golden field {field!r} of {rule['domain']}")
            system = rule.get("system_of_record")
            if rule["strategy"] == SurvivorshipStrategy.SYSTEM_OF_RECORD and not system:
                self.add(path, "the strategy system_of_record needs a system_of_record (a source code)")
            elif rule["strategy"] != SurvivorshipStrategy.SYSTEM_OF_RECORD and system:
                self.add(at(path, "system_of_record"), "only the strategy system_of_record names a source")
            elif system and system not in known:
                self.add(at(path, "system_of_record"), f"no source {system!r} in the file or the hub")

    # --- webhooks -------------------------------------------------------------------------------
    def webhooks(self) -> None:
        webhooks = self.document.get("webhooks") or []
        self._unique([w["name"] for w in webhooks], "webhooks", "name", "webhook name")
        users = get_user_model()._default_manager
        known = set(users.filter(username__in=[w["owner"] for w in webhooks]).values_list("username", flat=True))
        stored = {w.name: w for w in WebhookSubscription.objects.filter(name__in=[w["name"] for w in webhooks])}
        for index, values in enumerate(webhooks):
            path = path_text(["webhooks", index])
            if values["owner"] not in known:
                self.add(at(path, "owner"), f"no user {values['owner']!r} in the hub: create it first (the webhook "
                         "sends what its owner may view)")  # fmt: skip
            secret = values.get("secret")
            if secret and not REFERENCE_RE.match(secret) and not self.allow_plaintext:
                self.add(
                    at(path, "secret"),
                    "a secret in clear text is refused: write it as ${ENV:NAME} and set NAME in the hub's "
                    "environment (or import with --allow-plaintext-secrets to store it encrypted)",
                )
            row = WebhookSubscription(name=values["name"], **{WEBHOOK_KEYS[k]: v for k, v in values.items()
                                                               if k in WEBHOOK_KEYS})  # fmt: skip
            if "secret" not in values:  # left out: the hub keeps the secret it holds (a new webhook needs one)
                current = stored.get(values["name"])
                row.secret = current.secret if current is not None else ""
            self._model_errors(path, row, WEBHOOK_KEYS, exclude=["owner"])

    # --- the models' own rules ------------------------------------------------------------------
    def _model_errors(
        self,
        path: str,
        row: Any,
        keys: dict[str, str],
        *,
        exclude: list[str],
        skip: set[str] = frozenset(),
    ) -> None:
        """``full_clean`` of the unsaved row, its messages put under the YAML key they are about."""
        try:
            row.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            yaml_key = {field: key for key, field in keys.items()}
            for field, messages in exc.message_dict.items():
                if field in skip:
                    continue
                where = at(path, yaml_key[field]) if field in yaml_key else path
                for message in messages:
                    self.add(where, message.rstrip("."))


def validate(document: dict[str, Any], *, allow_plaintext: bool = False) -> None:
    """Raise :class:`ConfigError` with every problem of ``document``; return when it can be imported."""
    problems = Checker(document, allow_plaintext).run()
    if problems:
        raise ConfigError(problems)


def load(text: str, name: str = "config", *, allow_plaintext: bool = False) -> dict[str, Any]:
    """Parse and validate; the document, ready for :func:`connectors.services.config_apply.apply`."""
    document = parse(text, name)
    validate(document, allow_plaintext=allow_plaintext)
    return document
