"""Survivorship: which source's value a golden field keeps when sources offer different ones.

Per field, the configured :class:`SurvivorshipRule` (or the domain's ``*`` rule; without any,
``trust``) decides between the value the golden record holds now (its *incumbent*, known from
the field's provenance) and the value a source offers (the *challenger*):

* ``system_of_record``: the named source always wins; another source contradicting a value
  the system of record supplied raises a conflict; until the system of record has spoken the
  field falls back to ``trust``.
* ``trust``: the higher :meth:`SourceDomain.trust_for` rank wins, the lower is ignored, equal
  ranks of different sources raise a conflict. A source without a ``SourceDomain`` row for the
  domain has rank 0, and so has a value a person set (API, admin, steward).
* ``most_recent``: the value observed later wins.
* ``steward_only``: sources never write the field.

Whatever the strategy: a source always updates a value it supplied itself (under ``trust``
and ``most_recent``), an empty golden field takes any value, and an empty value never erases
what another source supplied. The business key is set when the record is created; afterwards
only a system of record named for it by a rule changes it (sources' own keys live on their
links; merged records keep sending theirs). Steward locks are checked by the caller before
asking (a locked field is never offered here).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from masterdata.models import ConflictReason, SourceDomain, SurvivorshipRule, SurvivorshipStrategy
from masterdata.models.governance import ANY_FIELD
from masterdata.registry import Domain

TAKE = "take"
KEEP = "keep"
CONFLICT = "conflict"


@dataclass(frozen=True)
class Decision:
    action: str
    """``take`` the challenger, ``keep`` the incumbent, or raise a ``conflict``."""
    rule: str
    """The strategy that decided (recorded in the provenance of a taken value)."""
    reason: str | None = None
    """The :class:`ConflictReason` of a conflict."""


class RuleBook:
    """The survivorship rules and source trust ranks of one domain, loaded once per batch."""

    def __init__(
        self,
        domain: Domain,
        rules: dict[str, tuple[str, str | None]],
        trust: dict[str, SourceDomain],
    ) -> None:
        self.domain = domain
        self.rules = rules
        self.trust_by_source = trust
        self._first_fill: dict[str, Decision] = {}
        """Field → the decision for a value nobody supplied yet (the same for every record of a batch)."""

    @classmethod
    def load(cls, domain: Domain) -> RuleBook:
        """Two queries: the domain's rules and every source's participation in the domain."""
        rules = {
            rule.field: (rule.strategy, rule.system_of_record.code if rule.system_of_record_id else None)
            for rule in SurvivorshipRule.objects.filter(domain=domain.name).select_related("system_of_record")
        }
        trust = {sd.source.code: sd for sd in SourceDomain.objects.filter(domain=domain.name).select_related("source")}
        return cls(domain, rules, trust)

    def rule_for(self, field_name: str) -> tuple[str, str | None]:
        """(strategy, system-of-record source code) of a field."""
        return self.rules.get(field_name) or self.rules.get(ANY_FIELD) or (SurvivorshipStrategy.TRUST, None)

    def trust(self, source_code: str | None, field_name: str) -> int:
        participation = self.trust_by_source.get(source_code) if source_code else None
        return participation.trust_for(field_name) if participation is not None else 0

    def decide(
        self,
        field_name: str,
        *,
        source_code: str,
        observed_at: datetime,
        incumbent: dict[str, Any] | None,
        current_empty: bool,
        offered_empty: bool,
    ) -> Decision:
        """Decide between a field's current value and a *different* value ``source_code`` offers.

        ``incumbent`` is the field's provenance entry (``{source, user, at, rule}``) or None when
        nobody is known to have supplied the current value.
        """
        if current_empty and incumbent is None:  # a first value: decided by the field's strategy alone
            known = self._first_fill.get(field_name)
            if known is None:
                strategy = self.rule_for(field_name)[0]
                known = Decision(KEEP if strategy == SurvivorshipStrategy.STEWARD_ONLY else TAKE, strategy)
                self._first_fill[field_name] = known
            return known
        strategy, system_of_record = self.rule_for(field_name)
        owner = incumbent.get("source") if incumbent else None
        if strategy == SurvivorshipStrategy.STEWARD_ONLY:
            return Decision(KEEP, strategy)
        is_sor = strategy == SurvivorshipStrategy.SYSTEM_OF_RECORD and source_code == system_of_record
        if field_name == self.domain.business_key and not current_empty and not is_sor:
            return Decision(KEEP, strategy)  # set on creation; other keys of the record live on its links
        if offered_empty and not current_empty and owner != source_code:
            return Decision(KEEP, strategy)
        if current_empty or incumbent is None:
            return Decision(TAKE, strategy)
        if strategy == SurvivorshipStrategy.SYSTEM_OF_RECORD:
            if source_code == system_of_record:
                return Decision(TAKE, strategy)
            if owner == system_of_record:
                return Decision(CONFLICT, strategy, ConflictReason.CONTRADICTS_SYSTEM_OF_RECORD)
            strategy = SurvivorshipStrategy.TRUST
        if owner == source_code:
            return Decision(TAKE, strategy)
        if strategy == SurvivorshipStrategy.MOST_RECENT:
            return self._most_recent(incumbent, observed_at)
        mine, theirs = self.trust(source_code, field_name), self.trust(owner, field_name)
        if mine > theirs:
            return Decision(TAKE, SurvivorshipStrategy.TRUST)
        if mine < theirs:
            return Decision(KEEP, SurvivorshipStrategy.TRUST)
        return Decision(CONFLICT, SurvivorshipStrategy.TRUST, ConflictReason.EQUAL_TRUST)

    @staticmethod
    def _most_recent(incumbent: dict[str, Any], observed_at: datetime) -> Decision:
        strategy = SurvivorshipStrategy.MOST_RECENT
        at = parse_time(incumbent.get("at"))
        if at is None or observed_at > at:
            return Decision(TAKE, strategy)
        if observed_at < at:
            return Decision(KEEP, strategy)
        return Decision(CONFLICT, strategy, ConflictReason.EQUAL_TRUST)


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


#: ``to_python`` of the stock text fields (and of their subclasses that keep it: e-mail, URL, slug).
TEXT_TO_PYTHON = frozenset({models.CharField.to_python, models.TextField.to_python})


def comparable(field: models.Field, value: Any) -> Any:
    """A value as the database stores it, so ``"1.50"``, ``1.5`` and ``Decimal("1.5")`` compare equal.

    Empty strings and None compare equal too: sources disagree on how to say "nothing".
    """
    if value is None or value == "":
        return None
    if type(value) is str and type(field).to_python in TEXT_TO_PYTHON:
        return value  # what a text field's to_python returns for text (the most frequent case, made cheap)
    if isinstance(field, models.ForeignKey):
        return value
    try:
        value = field.to_python(value)
    except (ValidationError, ArithmeticError, TypeError, ValueError):
        return value
    if isinstance(field, models.DecimalField) and isinstance(value, Decimal):
        value = value.quantize(Decimal(1).scaleb(-field.decimal_places))
    return value


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}
