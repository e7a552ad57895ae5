"""Validating incoming values against a domain's model, in bulk and without the database where possible.

Values are converted and checked field by field as the model would (types, lengths, choices,
validators); foreign keys arrive as business codes and are resolved with one query per key
field for the whole batch; check constraints are evaluated in Python on the record about to
be written, so a bad record fails alone instead of aborting the batch's transaction.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models.base import ModelState
from django.db.models.constraints import CheckConstraint, UniqueConstraint
from django.db.models.expressions import DatabaseDefault

from masterdata.models import GoldenRecord
from masterdata.registry import Domain
from masterdata.services.survivorship import TEXT_TO_PYTHON, comparable

Errors = dict[str, list[str]]
TEXT_INPUT = (str, int, float, Decimal)


def code_text(value: Any) -> str | None:
    """A foreign key's code as sources and the push write it (``1000`` and ``"1000"`` are one code)."""
    return None if value in (None, "") else str(value)


@dataclass(frozen=True)
class Pending:
    """A foreign key to a record this same batch creates: resolved once that record has an id."""

    code: str


class RecordSchema:
    """What a source may write into a domain's golden records, and how to check it."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.model = domain.model_class
        opts = self.model._meta
        self.fields: dict[str, models.Field] = {
            name: opts.get_field(name) for name in domain.field_names() if name != "attributes"
        }
        self.foreign_keys: dict[str, models.ForeignKey] = {
            name: f for name, f in self.fields.items() if isinstance(f, models.ForeignKey)
        }
        self.checks = [c for c in opts.constraints if isinstance(c, CheckConstraint)]
        unique = {c.fields[0] for c in opts.constraints if isinstance(c, UniqueConstraint) and _single_field(c)}
        unique |= {f.name for f in opts.concrete_fields if f.unique and not f.primary_key}
        self.unique_fields = sorted(unique & set(self.fields))
        self._prototype: GoldenRecord | None = None
        self._fresh: list[tuple[str, Callable[[], Any]]] = []

    def blank(self) -> GoldenRecord:
        """A new, unsaved record, as ``model()`` makes it, at a fraction of the cost.

        A batch may create a thousand records; the model's constructor resolves every field's
        default one by one each time. The first is made by the constructor; the others copy its
        values, calling again the defaults that must not be shared (``dict``, ``list``, ``now``).
        """
        if self._prototype is None:
            self._prototype = self.model()
            fields = self.model._meta.concrete_fields
            fresh = [f for f in fields if (f.has_default() and callable(f.default)) or f.has_db_default()]
            self._fresh = [(f.attname, f.get_default) for f in fresh if f.attname in self._prototype.__dict__]
        record = self.model.__new__(self.model)
        record.__dict__.update(self._prototype.__dict__)
        record._state = ModelState()
        for attname, default in self._fresh:
            record.__dict__[attname] = default()
        return record

    # --- values of one record ------------------------------------------------------------------
    def clean(self, values: dict[str, Any]) -> tuple[dict[str, Any], Errors]:
        """Model values of ``values`` (foreign keys stay codes) and the errors per field."""
        cleaned: dict[str, Any] = {}
        errors: Errors = {}
        for name, raw in values.items():
            f = self.fields.get(name)
            if f is None:
                errors[name] = [f"Not a field a source may write in {self.domain.name}."]
            elif name in self.foreign_keys:
                cleaned[name] = None if raw in (None, "") else str(raw)
            elif type(raw) is str and raw and len(raw) <= self._plain_text.get(name, -1):
                cleaned[name] = raw  # what the field's clean returns for text it accepts
            else:
                key = (name, type(raw), raw) if isinstance(raw, PLAIN_VALUES) else None
                known = self._values.get(key) if key is not None else None
                if known is None:
                    try:
                        known = (True, self.clean_value(f, raw))
                    except ValidationError as exc:
                        known = (False, exc.messages)
                    if key is not None:
                        self._values[key] = known
                if known[0]:
                    cleaned[name] = known[1]
                else:
                    errors[name] = list(known[1])
        return cleaned, errors

    @cached_property
    def _plain_text(self) -> dict[str, float]:
        """Text fields whose ``clean`` of non-empty text checks its length only → that length.

        Cleaning such a value the field's way (conversion, validation, validators) cost more than
        everything else a record's validation does; text within the length is taken as it is, the
        rest (too long, empty, not text) goes the field's way and gets its messages.
        """
        plain = {}
        for name, f in self.fields.items():
            cls = type(f)
            stock = cls.clean is models.Field.clean and cls.validate is models.Field.validate
            stock = stock and cls.run_validators is models.Field.run_validators and cls.to_python in TEXT_TO_PYTHON
            limits = [v.limit_value for v in f.validators if isinstance(v, MaxLengthValidator)]
            if stock and not f.choices and len(limits) == len(f.validators) and set(limits) <= {f.max_length}:
                plain[name] = f.max_length if f.max_length is not None else math.inf
        return plain

    @cached_property
    def _values(self) -> dict[tuple[str, type, Any], tuple[bool, Any]]:
        """(field, raw value) → cleaned value or messages: a value seen twice in a batch is cleaned once."""
        return {}

    @staticmethod
    def clean_value(f: models.Field, raw: Any) -> Any:
        if raw is None and not f.null and f.empty_strings_allowed:
            raw = ""  # sources say "nothing" as null; text columns store it as ""
        is_text = isinstance(f, models.CharField | models.TextField)
        if is_text and raw is not None and (isinstance(raw, bool) or not isinstance(raw, TEXT_INPUT)):
            raise ValidationError(f"Expected text, got {type(raw).__name__}.")
        return f.clean(raw, None)

    # --- foreign keys, for the whole batch -------------------------------------------------------
    def resolve_foreign_keys(
        self, cleaned: list[dict[str, Any]], batch_codes: set[str]
    ) -> list[tuple[dict[str, Any], Errors]]:
        """Replace foreign-key codes by ids: one query per foreign-key field.

        A reference to the domain's own model (a parent unit, a manager) may also name a record
        of this batch that does not exist yet (``batch_codes``): it becomes :class:`Pending`.
        """
        wanted: dict[str, set[str]] = defaultdict(set)
        for values in cleaned:
            for name in self.foreign_keys:
                if values.get(name) is not None:
                    wanted[name].add(values[name])
        found = {
            name: dict(_related(self.foreign_keys[name]).filter(code__in=codes).values_list("code", "pk"))
            for name, codes in wanted.items()
        }
        results = []
        for values in cleaned:
            errors: Errors = {}
            resolved = dict(values)
            for name, f in self.foreign_keys.items():
                code = values.get(name)
                if code is None:
                    continue
                if code in found.get(name, {}):
                    resolved[name] = found[name][code]
                elif f.related_model is self.model and code in batch_codes:
                    resolved[name] = Pending(code)
                else:
                    errors[name] = [f"There is no {f.related_model._meta.verbose_name} with code {code!r}."]
            results.append((resolved, errors))
        return results

    # --- a whole record, before writing ----------------------------------------------------------
    def check(self, record: GoldenRecord, *, new: bool, checked: Iterable[str] = ()) -> Errors:
        """Field checks of a new record and the model's check constraints, without the database.

        ``checked``: fields whose values were already cleaned one by one.
        """
        errors: Errors = {}
        if new:
            # The provenance is the hub's own document of texts (source, user, time, rule): nothing to check.
            exclude = {*self.foreign_keys, "merged_into", "provenance", *checked}
            errors.update(self._clean_fields(record, exclude))
        for constraint, condition in self._conditions:
            if condition(record) is False:
                errors.setdefault(NON_FIELD_ERRORS, []).append(str(constraint.get_violation_error_message()))
        return errors

    def _clean_fields(self, record: GoldenRecord, exclude: set[str]) -> Errors:
        """What ``Model.clean_fields(exclude)`` does, with each (field, plain value) cleaned once per batch.

        New records of a batch share most of their untouched values (status, version, empty
        texts): cleaning ``"active"`` once is enough. Documents (JSON) are cleaned every time.
        """
        errors: Errors = {}
        for f in self.model._meta.fields:
            if f.name in exclude or f.generated:
                continue
            raw = getattr(record, f.attname)
            if f.blank and raw in f.empty_values:
                continue
            if isinstance(raw, DatabaseDefault):
                continue
            key = (f.name, type(raw), raw) if isinstance(raw, PLAIN_VALUES) else None
            known = self._cleaned.get(key) if key is not None else None
            if known is None:
                try:
                    known = (True, f.clean(raw, record))
                except ValidationError as exc:
                    known = (False, exc.messages)
                if key is not None:
                    self._cleaned[key] = known
            if known[0]:
                setattr(record, f.attname, known[1])
            else:
                errors[f.name] = list(known[1])
        return errors

    @cached_property
    def _cleaned(self) -> dict[tuple[str, type, Any], tuple[bool, Any]]:
        return {}

    @cached_property
    def _conditions(self) -> list[tuple[CheckConstraint, Callable[[GoldenRecord], bool | None]]]:
        """Each check constraint with its condition compiled once (field lookups and operators resolved)."""
        return [(c, compile_condition(c.condition, self.model._meta)) for c in self.checks]


def _related(f: models.ForeignKey) -> models.QuerySet:
    return f.related_model._base_manager.all()


def _single_field(constraint: UniqueConstraint) -> bool:
    return len(constraint.fields) == 1 and constraint.condition is None and not constraint.expressions


#: Values cleaned once per batch and reused: immutable and compared by value.
PLAIN_VALUES = (str, int, bool, Decimal, date, type(None))
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "": lambda a, b: a == b,
    "exact": lambda a, b: a == b,
    "in": lambda a, b: a in b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def compile_condition(node: Any, opts: Any) -> Callable[[GoldenRecord], bool | None]:
    """A check-constraint condition as a function evaluating it on a record with SQL's three-valued logic.

    None means "unknown" (a NULL operand, or a lookup this evaluator does not know): a check
    constraint is violated only by False, so unknown leaves the decision to the database.
    Compiled once per batch: field lookups and operators are resolved here, not per record.
    """
    if isinstance(node, models.Q):
        children = [compile_condition(child, opts) for child in node.children]
        conjunction, negated = node.connector == models.Q.AND, node.negated

        decisive = not conjunction  # False decides a conjunction, True a disjunction

        def combined(record: GoldenRecord) -> bool | None:
            value: bool | None = not decisive
            for child in children:
                result = child(record)
                if result is decisive:
                    value = decisive
                    break
                if result is None:
                    value = None
            return None if value is None else (not value if negated else value)

        return combined
    lookup, rhs = node
    name, _, operator = lookup.partition("__")
    f = opts.get_field(name)
    attname = f.attname
    if operator == "isnull":
        return lambda record: (getattr(record, attname) is None) == bool(rhs)
    if operator in ("", "exact") and rhs is None:
        return lambda record: getattr(record, attname) is None  # Q(field=None) means IS NULL
    compare = COMPARISONS.get(operator)
    if compare is None:
        return lambda record: None
    other = opts.get_field(rhs.name).attname if isinstance(rhs, models.F) else None
    constant = [comparable(f, v) for v in rhs] if operator == "in" and other is None else None

    def leaf(record: GoldenRecord) -> bool | None:
        lhs = getattr(record, attname)
        right = getattr(record, other) if other is not None else rhs  # a NULL column compares as unknown
        if lhs is None or right is None or isinstance(lhs, Pending):
            return None
        try:
            if operator == "in":
                return comparable(f, lhs) in (constant if constant is not None else [comparable(f, v) for v in right])
            return compare(comparable(f, lhs), comparable(f, right))
        except TypeError:
            return None

    return leaf
