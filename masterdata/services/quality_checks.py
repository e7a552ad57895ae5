"""The checks behind each kind of data-quality rule, on one value, and the validation of rule settings.

Formats are judged by maintained libraries rather than hand-written patterns: e-mail addresses
by Django's validator, phone numbers by ``phonenumbers`` (Google's libphonenumber metadata), tax
ids by ``python-stdnum`` — China's unified social credit code (``cn.uscc``), EU VAT numbers
(``eu.vat``) and the national VAT/TIN scheme of other countries. Bulk checks (reference,
uniqueness) live in :mod:`masterdata.services.quality`, which queries once per rule and batch.
"""

from __future__ import annotations

import importlib
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from types import ModuleType
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.util import get_cc_module

from masterdata.models.quality import RuleKind
from masterdata.registry import registry

ATTRIBUTES_PREFIX = "attributes."
DEFAULT_COUNTRY_FIELD = "country"
#: Greece's VAT numbers carry "EL", not its ISO code.
VAT_PREFIX = {"gr": "EL"}
#: Rule kinds that judge one value alone (the others look at other records).
VALUE_KINDS = frozenset({RuleKind.REQUIRED, RuleKind.EMAIL, RuleKind.PHONE, RuleKind.TAX_ID, RuleKind.REGEX,
                         RuleKind.RANGE})  # fmt: skip
PARAMS = {
    RuleKind.REQUIRED: set(),
    RuleKind.EMAIL: set(),
    RuleKind.PHONE: {"country", "country_field"},
    RuleKind.TAX_ID: {"country", "country_field", "scheme"},
    RuleKind.REGEX: {"pattern"},
    RuleKind.RANGE: {"min", "max"},
    RuleKind.REFERENCE: {"domain", "active"},
    RuleKind.UNIQUE: {"ignore_case"},
}
TEXT_FIELDS = (models.CharField, models.TextField)


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


# --- one value ---------------------------------------------------------------------------------------
def email_problem(value: Any) -> str | None:
    try:
        validate_email(str(value).strip())
    except ValidationError:
        return "Not a valid e-mail address."
    return None


def phone_problem(value: Any, country: str | None) -> str | None:
    """A phone number valid in ``country`` (numbers in international form need none)."""
    region = country.upper() if country else None
    where = f" for {region}" if region else ""
    try:
        number = phonenumbers.parse(str(value), region)
    except phonenumbers.NumberParseException:
        return f"Not a phone number{where}."
    if not phonenumbers.is_valid_number(number):
        return f"Not a valid phone number{where}."
    return None


def tax_module(country: str | None, scheme: str | None) -> ModuleType | None:
    """The python-stdnum module that judges tax ids of ``country`` (or the named ``scheme``); None: none known."""
    if scheme:
        return importlib.import_module(f"stdnum.{scheme}")
    if not country:
        return None
    code = country.lower()
    if code in eu_vat.MEMBER_STATES:
        return eu_vat
    for name in ("vat", "tin"):
        module = get_cc_module(code, name)
        if module is not None:
            return module
    return None


def tax_id_problem(value: Any, country: str | None, scheme: str | None) -> str | None:
    """A tax id valid for ``country``: its unified social credit code in China, its VAT number in the EU.

    A country without a known scheme is not judged (None). An EU VAT number may omit its country
    prefix: the record's country supplies it.
    """
    module = tax_module(country, scheme)
    if module is None:
        return None
    number = str(value).strip()
    if module is eu_vat and country and not re.match(r"^[A-Za-z]{2}", number):
        number = VAT_PREFIX.get(country.lower(), country.upper()) + number
    try:
        module.validate(number)
    except StdnumError as exc:
        label = (module.__doc__ or module.__name__).strip().splitlines()[0].rstrip(".")
        return f"Not a valid {label}: {exc.message}"
    return None


def regex_problem(value: Any, pattern: str) -> str | None:
    if re.fullmatch(pattern, str(value)) is None:
        return f"Does not match the pattern {pattern}."
    return None


def range_problem(value: Any, low: Any, high: Any) -> str | None:
    """Numbers and dates compare as such (a date-time by its date), text by its length."""
    subject = _measure(value)
    if subject is None:
        return None
    noun = "length" if isinstance(value, str) else "value"
    minimum, maximum = _bound(subject, low), _bound(subject, high)
    if minimum is not None and subject < minimum:
        return f"The {noun} {subject} is below the minimum {minimum}."
    if maximum is not None and subject > maximum:
        return f"The {noun} {subject} is above the maximum {maximum}."
    return None


def _measure(value: Any) -> Decimal | date | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float | Decimal):
        return _number(value)
    if isinstance(value, str):
        return Decimal(len(value))
    return None


def _bound(subject: Decimal | date, bound: Any) -> Decimal | date | None:
    if bound is None:
        return None
    if isinstance(subject, date):
        try:
            return date.fromisoformat(str(bound)[:10])
        except ValueError:
            return None
    return _number(bound)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


# --- rule settings -----------------------------------------------------------------------------------
def model_field(domain_name: str, name: str) -> models.Field | None:
    """The golden field a rule names (None for ``attributes.<key>``)."""
    if name.startswith(ATTRIBUTES_PREFIX):
        return None
    return registry.get(domain_name).model_class._meta.get_field(name)


def rule_errors(domain_name: str, field_name: str, kind: str, params: Any) -> dict[str, list[str]]:
    """What is wrong with a rule's domain, field and params (empty when it can be applied)."""
    if domain_name not in registry:
        return {"domain": [f"Unknown domain {domain_name!r}."]}
    domain = registry.get(domain_name)
    errors: dict[str, list[str]] = {}
    if not isinstance(params, dict):
        return {"params": ['Give an object, e.g. {} or {"country": "CN"}.']}
    if field_name.startswith(ATTRIBUTES_PREFIX):
        if not field_name[len(ATTRIBUTES_PREFIX) :].isidentifier():
            errors["field"] = ['Name an attribute as "attributes.<key>" with a key of letters, digits or "_".']
    elif field_name not in domain.field_names() or field_name == "attributes":
        errors["field"] = [f"{field_name!r} is not a field of {domain_name}; known: {', '.join(domain.field_names())}."]
    if kind not in RuleKind.values:
        errors["kind"] = [f"Unknown kind {kind!r}."]
        return errors
    unknown = sorted(set(params) - PARAMS[RuleKind(kind)])
    if unknown:
        allowed = ", ".join(sorted(PARAMS[RuleKind(kind)])) or "none"
        errors["params"] = [f"Unknown parameter(s) {', '.join(unknown)} for {kind}; allowed: {allowed}."]
    if "field" not in errors:
        errors.update(_kind_errors(domain_name, field_name, RuleKind(kind), params))
    return errors


def _kind_errors(domain_name: str, field_name: str, kind: RuleKind, params: dict[str, Any]) -> dict[str, list[str]]:
    problems: list[str] = []
    f = model_field(domain_name, field_name)
    if kind in (RuleKind.PHONE, RuleKind.TAX_ID):
        problems += _country_problems(domain_name, params)
    if kind == RuleKind.TAX_ID and params.get("scheme"):
        problems += _scheme_problems(params["scheme"])
    if kind == RuleKind.REGEX:
        try:
            re.compile(str(params.get("pattern", "")))
        except re.error as exc:
            problems.append(f"The pattern is not a regular expression: {exc}.")
        if not params.get("pattern"):
            problems.append("Give a pattern.")
    if kind == RuleKind.RANGE:
        problems += _range_problems(f, params)
    if kind == RuleKind.REFERENCE:
        problems += _reference_problems(f, params)
    if kind == RuleKind.UNIQUE and params.get("ignore_case") and not isinstance(f, TEXT_FIELDS):
        problems.append("ignore_case applies to text fields only.")
    sensitive = registry.get(domain_name).sensitive_fields
    if kind == RuleKind.UNIQUE and params.get("ignore_case") and field_name in sensitive:
        problems.append("A sensitive field is found by exact value only: ignore_case is not possible.")
    return {"params": problems} if problems else {}


def _country_problems(domain_name: str, params: dict[str, Any]) -> list[str]:
    country = params.get("country")
    if country is not None:
        return [] if isinstance(country, str) and re.fullmatch(r"[A-Za-z]{2}", country) else ["country: an ISO code."]
    country_field = params.get("country_field", DEFAULT_COUNTRY_FIELD)
    if country_field not in registry.get(domain_name).field_names():
        return [f"{domain_name} has no field {country_field!r}: give a country or a country_field."]
    return []


def _scheme_problems(scheme: Any) -> list[str]:
    if not isinstance(scheme, str) or not re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", scheme):
        return ["scheme: a python-stdnum module such as cn.uscc or eu.vat."]
    try:
        module = importlib.import_module(f"stdnum.{scheme}")
    except ImportError:
        return [f"scheme: python-stdnum has no module {scheme!r}."]
    return [] if callable(getattr(module, "validate", None)) else [f"scheme: {scheme!r} does not validate numbers."]


def _range_problems(f: models.Field | None, params: dict[str, Any]) -> list[str]:
    if params.get("min") is None and params.get("max") is None:
        return ["Give min, max or both."]
    problems = []
    for name in ("min", "max"):
        bound = params.get(name)
        if bound is None:
            continue
        if isinstance(f, models.DateField):
            try:
                date.fromisoformat(str(bound)[:10])
            except ValueError:
                problems.append(f"{name}: an ISO date such as 2020-01-01.")
        elif _number(bound) is None:
            problems.append(f"{name}: a number.")
    return problems


def _reference_problems(f: models.Field | None, params: dict[str, Any]) -> list[str]:
    target = params.get("domain")
    if target is not None and target not in registry:
        return [f"domain: unknown domain {target!r}."]
    if isinstance(f, models.ForeignKey):
        try:
            own = registry.for_model(f.related_model).name
        except LookupError:
            return ["The field refers to something that is not a golden record."]
        if target is not None and target != own:
            return [f"domain: the field refers to {own}, not {target}."]
        return []
    if target is None:
        return ["domain: name the domain whose codes the field holds."]
    if "active" in params and not isinstance(params["active"], bool):
        return ["active: true or false."]
    return []
